"""Local days and hours of UTC instants: the calendar energy figures are reported on.

Readings and half-hour buckets are UTC instants; people (and GB settlement) count local days.
A local day in Europe/London holds 48 half-hours, except the spring clock change (46) and the
autumn one (50) [domain.md §4.4]. Day boundaries come from :mod:`zoneinfo`, once per day, so
whatever the time zone rules, a day is exactly the instants between two local midnights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

HALF_HOUR_S = 1800
LONDON = "Europe/London"


@dataclass(frozen=True, slots=True)
class DayGrid:
    """Consecutive local days and the UTC instants that bound them."""

    days: NDArray[np.datetime64]
    """Local dates (``datetime64[D]``)."""
    bounds: Ints
    """POSIX seconds of each day's local midnight, and one more: the end of the last day."""

    @property
    def half_hours(self) -> Ints:
        """Half-hours in each day: 48, or 46 and 50 on clock-change days."""
        result: Ints = np.diff(self.bounds) // HALF_HOUR_S
        return result

    def day_of(self, instants: ArrayLike) -> Ints:
        """Index of the day holding each instant; -1 before the grid, ``len(days)`` after it."""
        t = np.asarray(instants, dtype=np.int64)
        result: Ints = np.searchsorted(self.bounds, t, side="right") - 1
        return result


def _midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def day_grid(first: date, last: date, tz: str = LONDON) -> DayGrid:
    """The local days ``first`` … ``last`` (inclusive) in ``tz``."""
    if last < first:
        raise ValueError(f"last day {last} is before first day {first}")
    zone = ZoneInfo(tz)
    count = (last - first).days + 1
    dates = [first + timedelta(days=i) for i in range(count + 1)]
    bounds = np.array([_midnight(d, zone) for d in dates], dtype=np.int64)
    days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    return DayGrid(days=days, bounds=bounds)


def local_date(instant: float, tz: str = LONDON) -> date:
    """The local date of a POSIX instant."""
    return datetime.fromtimestamp(instant, UTC).astimezone(ZoneInfo(tz)).date()


def local_clock(instants: ArrayLike, tz: str = LONDON) -> tuple[Ints, Floats]:
    """Local day (days since 1970-01-01) and clock hour (0 <= hour < 24) of each instant.

    The UTC offset is looked up once per distinct half-hour of UTC (clock changes fall on
    half-hour boundaries), so a year of readings costs at most 17,520 look-ups.
    """
    t = np.atleast_1d(np.asarray(instants, dtype=np.int64))
    if t.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    zone = ZoneInfo(tz)
    unique, inverse = np.unique(t // HALF_HOUR_S, return_inverse=True)
    offsets = np.array(
        [_offset_s(int(h) * HALF_HOUR_S, zone) for h in unique.tolist()], dtype=np.int64
    )
    local = t + offsets[inverse.reshape(-1)]
    hour: Floats = (local % 86_400) / 3600.0
    day: Ints = local // 86_400
    return day, hour


def _offset_s(instant: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(instant, UTC).astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())
