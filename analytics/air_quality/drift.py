"""Drift: a monitor reading persistently above or below its neighbours of the same site type.

A sensor whose calibration drifts still produces smooth, plausible numbers, so range, stuck
and spike checks miss it; only a comparison with other monitors shows it. Method [D]:

1. Hourly means (any reading counts) of the monitor and of each neighbour on the monitor's UTC
   hour grid; the **reference** for an hour is the median over the neighbours present, when at
   least ``min_neighbours`` are (a median of two or more resists one bad neighbour).
2. For each UTC day with at least ``min_hours`` hours where both are present, the **daily
   medians** of the monitor and of the reference over those hours.
3. A day is **off** upwards when the monitor's median exceeds the reference's by more than
   ``ratio`` times *and* by more than ``min_difference`` µg/m³ (the floor keeps ratios of tiny
   numbers on clean days from counting), downwards likewise.
4. The monitor is **drifting** on every day of a run of at least ``days`` consecutive days off
   in the same direction. A day without enough data breaks the run.

Neighbours must share the monitor's ``site_type`` (:func:`.series.same_site_type`): a roadside
site reading twice the background is the point of a roadside site, not drift. Days are UTC:
drift is slow, and which midnight ends the day does not change the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.air_quality.averaging import Days, period_means
from analytics.air_quality.series import Floats, Series

_HOUR = 3600


@dataclass(frozen=True, slots=True, eq=False)  # numpy arrays have no single truth value
class DriftReport:
    """Per UTC day: the medians compared, how many neighbours took part, and the verdict."""

    day: Days
    monitor_median: Floats
    reference_median: Floats
    """NaN on days without ``min_hours`` paired hours."""
    direction: npt.NDArray[np.int8]
    """+1 off upwards, -1 downwards, 0 not off (or not enough data)."""
    drifting: npt.NDArray[np.bool_]

    def readings(self, timestamps: npt.NDArray[np.datetime64]) -> npt.NDArray[np.bool_]:
        """Which of a series' readings fall on a drifting day."""
        bad = self.day[self.drifting]
        return np.isin(timestamps.astype("datetime64[D]"), bad)


def _hourly(series: Series, start: np.datetime64, end: np.datetime64) -> Floats:
    # interval_s = one hour: every hour with at least one reading has a mean.
    return period_means(
        series, period_s=_HOUR, interval_s=_HOUR, start=start, end=end, min_capture=0.0
    ).mean


def _runs(direction: npt.NDArray[np.int8], days: int) -> npt.NDArray[np.bool_]:
    out = np.zeros(len(direction), dtype=bool)
    breaks = np.flatnonzero(np.diff(direction) != 0) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(direction)]])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if direction[start] != 0 and end - start >= days:
            out[start:end] = True
    return out


def drift(
    series: Series,
    neighbours: Sequence[Series],
    *,
    ratio: float = 1.5,
    min_difference: float = 5.0,
    days: int = 3,
    min_neighbours: int = 2,
    min_hours: int = 18,
) -> DriftReport:
    """Compare ``series`` with the same pollutant at ``neighbours`` (already QC-cleaned)."""
    if not len(series):
        empty = np.array([], dtype="datetime64[D]")
        return DriftReport(
            empty, np.array([]), np.array([]), np.array([], np.int8), np.array([], bool)
        )
    start = series.timestamps[0].astype("datetime64[D]").astype("datetime64[s]")
    end = (series.timestamps[-1].astype("datetime64[D]") + np.timedelta64(1, "D")).astype(
        "datetime64[s]"
    )
    own = _hourly(series, start, end)
    n = len(own)
    reference = np.full(n, np.nan)
    if neighbours:
        others = np.stack([_hourly(s, start, end) for s in neighbours])
        enough = np.isfinite(others).sum(axis=0) >= max(1, min_neighbours)
        if enough.any():
            reference[enough] = np.nanmedian(others[:, enough], axis=0)
    paired = np.isfinite(own) & np.isfinite(reference)
    hours_per_day = 24
    day_count = n // hours_per_day
    own_days = np.where(paired, own, np.nan).reshape(day_count, hours_per_day)
    ref_days = np.where(paired, reference, np.nan).reshape(day_count, hours_per_day)
    ok = paired.reshape(day_count, hours_per_day).sum(axis=1) >= max(1, min_hours)
    own_median = np.full(day_count, np.nan)
    ref_median = np.full(day_count, np.nan)
    own_median[ok] = np.nanmedian(own_days[ok], axis=1)
    ref_median[ok] = np.nanmedian(ref_days[ok], axis=1)
    up = ok & (own_median - ref_median > min_difference) & (own_median > ratio * ref_median)
    down = ok & (ref_median - own_median > min_difference) & (ref_median > ratio * own_median)
    direction = up.astype(np.int8) - down.astype(np.int8)
    day = np.arange(
        start.astype("datetime64[D]"), end.astype("datetime64[D]"), dtype="datetime64[D]"
    )
    return DriftReport(day, own_median, ref_median, direction, _runs(direction, days))
