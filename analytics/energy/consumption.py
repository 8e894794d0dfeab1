"""What a household used in each half-hour and each local day, from cumulative registers.

A smart meter reports cumulative registers (``electricity_import_kwh`` in kWh, an optional
``gas_m3`` in m³) at the end of every half-hour. Usage is the difference between consecutive
readings, under these rules (shared by the per-household and the fleet form, so both agree):

- **Instants.** A reading counts as taken at the nearest half-hour boundary: meters read their
  registers on the boundary, and seconds of clock skew must not split a half-hour. Readings that
  land on the same boundary (redeliveries, duplicates) collapse to one; when they disagree the
  largest is kept, so the result never depends on the order readings arrive in.
- **Steps.** Between consecutive readings ``r0 → r1`` spanning ``h`` hours, the usage is
  ``r1 - r0`` when the register advanced (ADVANCE). A drop is a rollover when the register wraps
  (``rollover_at`` set: 100,000 for a display showing up to 99,999.9) and
  ``r1 + rollover_at - r0`` is credible (ROLLOVER); otherwise it is a reset to zero by a meter
  exchange or firmware fault, and the usage counts from the new value, ``r1`` (RESET; this is
  exact for a register that restarts from 0). A step implying more than ``max_per_hour * h``
  (more than the supply can deliver: a register restarted from a non-zero value, a corrupt
  reading) is unknown (IMPLAUSIBLE, NaN); so is a register stepping back a little (meter
  jitter), which is neither a wrap nor a restart. Usage is never negative and never guessed.
- **Gaps.** A step spanning several half-hours (readings missing in between) is one lump: its
  total is known, its split is not. Its half-hours are missing (NaN) in the half-hourly series,
  and the lump counts in a day's total only when it lies wholly inside that local day. So a gap
  within a day leaves the day's total exact, and a gap across midnight leaves its usage out of
  both days, which then say how many half-hours they miss. Nothing is spread or interpolated.
- **Days** are local days (Europe/London unless told) of 46, 48 or 50 half-hours; half-hours
  are labelled by their UTC start instant (GB settlement convention, domain.md §4.4).

The register's unit carries through: kWh for electricity, m³ for gas (see :mod:`.gas`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.energy.calendar import HALF_HOUR_S, LONDON, Bools, Floats, Ints, day_grid, local_date


class Step(IntEnum):
    """How the usage between two consecutive readings was read."""

    ADVANCE = 0
    ROLLOVER = 1
    RESET = 2
    IMPLAUSIBLE = 3
    MISSING = 4
    """One of the two readings is unknown (fleet form only)."""


@dataclass(frozen=True, slots=True)
class RegisterRules:
    """What a credible step of one register looks like."""

    max_per_hour: float = 24.0
    """Largest credible usage per hour, in the register's unit."""
    rollover_at: float | None = None
    """The register's modulus: it wraps from just below this value back to 0."""

    def __post_init__(self) -> None:
        if not self.max_per_hour > 0:
            raise ValueError(f"max_per_hour must be positive, not {self.max_per_hour}")
        if self.rollover_at is not None and not self.rollover_at > 0:
            raise ValueError(f"rollover_at must be positive, not {self.rollover_at}")


ELECTRICITY = RegisterRules(max_per_hour=24.0)
"""A 100 A single-phase supply at 240 V delivers at most 24 kWh an hour."""
GAS = RegisterRules(max_per_hour=6.0)
"""A domestic U6/G4 gas meter passes at most 6 m³ an hour."""


def step_usage(
    r0: ArrayLike, r1: ArrayLike, hours: ArrayLike, rules: RegisterRules
) -> tuple[Floats, NDArray[np.int8]]:
    """Usage and :class:`Step` of each step from register ``r0`` to ``r1`` over ``hours``."""
    a = np.asarray(r0, dtype=np.float64)
    b = np.asarray(r1, dtype=np.float64)
    cap = rules.max_per_hour * np.asarray(hours, dtype=np.float64)
    a, b, cap = np.broadcast_arrays(a, b, cap)
    delta = b - a
    known = np.isfinite(a) & np.isfinite(b)
    advance = known & (delta >= 0) & (delta <= cap)
    dropped = known & (delta < 0)
    if rules.rollover_at is not None:
        wrapped = delta + rules.rollover_at
        rollover = dropped & (wrapped >= 0) & (wrapped <= cap)
    else:
        wrapped = delta
        rollover = np.zeros(delta.shape, dtype=np.bool_)
    reset = dropped & ~rollover & (b >= 0) & (b <= cap)
    usage = np.select([advance, rollover, reset], [delta, wrapped, b], default=np.nan)
    kind = np.select(
        [advance, rollover, reset, known],
        [Step.ADVANCE, Step.ROLLOVER, Step.RESET, Step.IMPLAUSIBLE],
        default=Step.MISSING,
    ).astype(np.int8)
    return usage.astype(np.float64), kind


@dataclass(frozen=True, slots=True)
class Steps:
    """Usage between consecutive (cleaned) readings of one register."""

    start: Ints
    """Boundary instant (POSIX seconds) of the earlier reading."""
    end: Ints
    usage: Floats
    """NaN where the step is not credible."""
    kind: NDArray[np.int8]
    """:class:`Step` codes."""

    @property
    def half_hours(self) -> Ints:
        result: Ints = (self.end - self.start) // HALF_HOUR_S
        return result


def clean_readings(ts: ArrayLike, register: ArrayLike) -> tuple[Ints, Floats]:
    """Readings on half-hour boundaries, one per boundary, in time order; NaNs dropped."""
    t = np.asarray(ts, dtype=np.float64).reshape(-1)
    r = np.asarray(register, dtype=np.float64).reshape(-1)
    if t.shape != r.shape:
        raise ValueError(f"{t.size} timestamps but {r.size} register values")
    keep = np.isfinite(t) & np.isfinite(r)
    boundary = np.floor(t[keep] / HALF_HOUR_S + 0.5).astype(np.int64) * HALF_HOUR_S
    value = r[keep]
    order = np.lexsort((value, boundary))
    boundary, value = boundary[order], value[order]
    last = np.ones(boundary.size, dtype=np.bool_)
    last[:-1] = boundary[1:] != boundary[:-1]
    return boundary[last], value[last]


def steps(ts: ArrayLike, register: ArrayLike, *, rules: RegisterRules = ELECTRICITY) -> Steps:
    """Usage between consecutive readings (POSIX seconds ``ts``), by the module's rules."""
    at, value = clean_readings(ts, register)
    hours = np.diff(at) / 3600.0
    usage, kind = step_usage(value[:-1], value[1:], hours, rules)
    return Steps(start=at[:-1], end=at[1:], usage=usage, kind=kind)


@dataclass(frozen=True, slots=True)
class HalfHourly:
    """Usage in consecutive half-hours."""

    start: Ints
    """UTC start of each half-hour (POSIX seconds)."""
    usage: Floats
    """NaN where unknown (a gap, a lump, an implausible step)."""


def half_hourly(
    ts: ArrayLike,
    register: ArrayLike,
    *,
    rules: RegisterRules = ELECTRICITY,
    start: int | None = None,
    end: int | None = None,
) -> HalfHourly:
    """Half-hourly usage on the grid ``[start, end)`` (default: first to last reading)."""
    s = steps(ts, register, rules=rules)
    first = start if start is not None else (int(s.start[0]) if s.start.size else 0)
    stop = end if end is not None else (int(s.end[-1]) if s.end.size else first)
    if first % HALF_HOUR_S or stop % HALF_HOUR_S:
        raise ValueError("start and end must be half-hour boundaries")
    grid = np.arange(first, max(first, stop), HALF_HOUR_S, dtype=np.int64)
    usage = np.full(grid.size, np.nan)
    single = s.half_hours == 1
    slot = (s.start[single] - first) // HALF_HOUR_S
    inside = (slot >= 0) & (slot < grid.size)
    usage[slot[inside]] = s.usage[single][inside]
    return HalfHourly(start=grid, usage=usage)


@dataclass(frozen=True, slots=True)
class Daily:
    """Usage per local day, and how much of each day it covers."""

    days: NDArray[np.datetime64]
    usage: Floats
    """Usage of the steps lying wholly inside the day; NaN when there are none."""
    half_hours: Ints
    """Half-hours in the day: 48, or 46 / 50 on clock-change days."""
    covered: Ints
    """Half-hours whose usage is in ``usage``."""
    lumped: Ints
    """Of ``covered``, those known only inside a multi-half-hour step (a gap's lump)."""

    @property
    def missing(self) -> Ints:
        """Half-hours of the day whose usage is not in ``usage``."""
        result: Ints = self.half_hours - self.covered
        return result

    @property
    def complete(self) -> Bools:
        result: Bools = self.covered == self.half_hours
        return result

    def complete_usage(self) -> Floats:
        """``usage`` where the day is complete, NaN elsewhere."""
        result: Floats = np.where(self.complete, self.usage, np.nan)
        return result


def daily(
    ts: ArrayLike,
    register: ArrayLike,
    *,
    rules: RegisterRules = ELECTRICITY,
    tz: str = LONDON,
    first_day: date | None = None,
    last_day: date | None = None,
) -> Daily:
    """Usage per local day ``first_day`` … ``last_day`` (default: the days the readings span)."""
    s = steps(ts, register, rules=rules)
    if (first_day is None or last_day is None) and s.start.size == 0:
        raise ValueError("fewer than two readings: give first_day and last_day")
    first = first_day if first_day is not None else local_date(int(s.start[0]), tz)
    last = last_day if last_day is not None else local_date(int(s.end[-1]) - 1, tz)
    grid = day_grid(first, last, tz)
    n = len(grid.days)
    day = grid.day_of(s.start)
    clipped = np.clip(day, 0, n - 1)
    inside = (day >= 0) & (day < n) & (s.end <= grid.bounds[clipped + 1])
    known = inside & np.isfinite(s.usage)
    idx, halves = day[known], s.half_hours[known].astype(np.float64)
    usage = np.bincount(idx, weights=s.usage[known], minlength=n)
    covered = np.bincount(idx, weights=halves, minlength=n).astype(np.int64)
    lumped = np.bincount(idx, weights=halves * (halves > 1), minlength=n).astype(np.int64)
    return Daily(
        days=grid.days,
        usage=np.where(covered > 0, usage, np.nan),
        half_hours=grid.half_hours,
        covered=covered,
        lumped=lumped,
    )
