"""Daily usage of a whole fleet at once, from each household's end-of-day register.

The monthly run reads one register value per household per day from the daily rollups
(``electricity_import_kwh_max``) and needs households x days of usage in one vectorised step.
The rules are those of :mod:`.consumption` (same :func:`~.consumption.step_usage`), at day
grain:

- day ``d``'s usage is ``E[d] - E[d-1]`` read as an advance, a rollover or a reset, or NaN
  when either value is unknown or the step is not credible (more than ``max_per_hour`` * 25 h,
  the longest local day). A missing day therefore also leaves the next day unknown: its usage
  is not guessed from a two-day lump;
- the first column has no day before it, so it is NaN: pass one extra leading day;
- the rollups take the day's *maximum*, which is its last reading except on the day of a reset.
  There the maximum is the pre-reset value, so that day counts the use before the reset and the
  next day counts from the new value: the two-day total is right, the split is approximate;
- a day's maximum is its last reading, at 23:30, so "day ``d``" runs from 23:30 the day before
  to 23:30 — a constant half-hour shift, immaterial for monthly comparisons. The days are the
  rollups' (UTC days, ``time_bucket('1 day')``), not local days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.energy.calendar import Floats, Ints
from analytics.energy.consumption import ELECTRICITY, RegisterRules, Step, step_usage

LONGEST_DAY_H = 25.0
_BLOCK = 4096


@dataclass(frozen=True, slots=True)
class FleetDaily:
    """Households x days of usage."""

    usage: Floats
    """NaN where unknown."""
    step: NDArray[np.int8]
    """:class:`~.consumption.Step` code of each day (``MISSING`` in the first column)."""

    @property
    def missing_days(self) -> Ints:
        """Days per household without a known usage (the first column included)."""
        result: Ints = np.isnan(self.usage).sum(axis=1)
        return result

    @property
    def resets(self) -> Ints:
        """Register resets per household."""
        result: Ints = (self.step == Step.RESET).sum(axis=1)
        return result


def fleet_daily(end_of_day: ArrayLike, *, rules: RegisterRules = ELECTRICITY) -> FleetDaily:
    """Daily usage from a households x days array of end-of-day registers (NaN: unknown)."""
    registers = np.asarray(end_of_day, dtype=np.float64)
    if registers.ndim != 2:
        raise ValueError(f"expected households x days, got shape {registers.shape}")
    usage = np.full(registers.shape, np.nan)
    step = np.full(registers.shape, Step.MISSING, dtype=np.int8)
    if registers.shape[1] > 1:
        # Blocks of households keep the temporaries small and warm in memory: on 100,000 x 395
        # one pass over the whole array spends most of its time faulting in fresh pages.
        for lo in range(0, registers.shape[0], _BLOCK):
            rows = slice(lo, lo + _BLOCK)
            usage[rows, 1:], step[rows, 1:] = step_usage(
                registers[rows, :-1], registers[rows, 1:], LONGEST_DAY_H, rules
            )
    return FleetDaily(usage=usage, step=step)
