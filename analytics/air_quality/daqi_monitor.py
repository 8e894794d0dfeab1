"""The current DAQI of a monitor and of a zone, from the monitor's recent readings.

At instant ``at`` each pollutant's sub-index uses its DAQI average over the latest *complete*
period (domain.md §1.2; capture rules in :mod:`.averaging`):

- NO2: the mean of the clock hour ending at ``at`` floored to the hour (≥ 75% of readings);
- SO2: the 15-minute period ending at ``at`` floored to 15 minutes (≥ 75% of readings);
- O3: the running 8-hour mean ending at the hour (≥ 6 of 8 valid hours) [V2];
- PM2.5, PM10: the running 24-hour mean ending at the hour (≥ 18 of 24 valid hours) [M]. This is
  what UK-AIR shows for the current day; past days use :mod:`.daqi_daily`.

A period that fails its capture rule gives **no sub-index** (``None``) with the reason, never
the last good value: a stale index must not drive an alert. Run :func:`.qc.clean_monitor`
first so flagged readings count as missing.

The monitor's index is the highest sub-index, naming the pollutant(s) that set it (Defra: "the
highest concentration of five pollutants"). A **zone's** index is the highest over its
monitors, as Defra reports a region by its highest site; ties go to the first monitor by id, so
the named monitor does not flicker between refreshes. The highest, not the mean: an average
would hide the roadside site where people are breathing the worst air.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import numpy as np

from analytics.air_quality.averaging import (
    DEFAULT_CAPTURE,
    Means,
    hourly_means,
    quarter_hour_means,
    required,
    running_means,
)
from analytics.air_quality.daqi import AVERAGING, daqi_index
from analytics.air_quality.daqi_levels import DaqiLevel, daqi_level
from analytics.air_quality.pollutants import POLLUTANTS, Pollutant
from analytics.air_quality.series import Monitor, utc_datetime64

_HOUR = np.timedelta64(3600, "s")
_QUARTER = np.timedelta64(900, "s")

# Running windows: (hours, valid hours needed). O3: Defra 2013 note [V2]; PM: 75% [M].
RUNNING: dict[Pollutant, tuple[int, int]] = {"o3": (8, 6), "pm25": (24, 18), "pm10": (24, 18)}


class NoIndex(Enum):
    """Why a pollutant has no sub-index."""

    NOT_MEASURED = "not measured by this monitor"
    INSUFFICIENT_CAPTURE = "insufficient data capture"


@dataclass(frozen=True, slots=True)
class SubIndex:
    """One pollutant's DAQI at a monitor, with the averaging period and its data capture."""

    pollutant: Pollutant
    index: int | None
    concentration: float | None
    """The unrounded average the index was looked up from, µg/m³."""
    start: np.datetime64
    end: np.datetime64
    count: int
    """Valid readings (hourly, 15-minute) or valid hours (running means) in the period."""
    needed: int
    expected: int
    reason: NoIndex | None = None

    @property
    def averaging(self) -> str:
        return AVERAGING[self.pollutant]

    @property
    def detail(self) -> str:
        """E.g. ``"5 of 8 hours (6 needed)"``."""
        unit = "hours" if self.pollutant in RUNNING else "readings"
        return f"{self.count} of {self.expected} {unit} ({self.needed} needed)"


@dataclass(frozen=True, slots=True)
class MonitorDaqi:
    """A monitor's DAQI at one instant: the highest sub-index, or ``None`` if it has none."""

    monitor_id: str
    at: np.datetime64
    index: int | None
    pollutants: tuple[Pollutant, ...]
    """The pollutants whose sub-index equals ``index`` (usually one), in a fixed order."""
    sub_indices: tuple[SubIndex, ...]

    @property
    def pollutant(self) -> Pollutant | None:
        return self.pollutants[0] if self.pollutants else None

    @property
    def level(self) -> DaqiLevel | None:
        return daqi_level(self.index) if self.index is not None else None

    def sub_index(self, pollutant: Pollutant) -> SubIndex:
        return next(s for s in self.sub_indices if s.pollutant == pollutant)


@dataclass(frozen=True, slots=True)
class ZoneDaqi:
    """A zone's DAQI: the highest over its monitors, naming the monitor and pollutant."""

    zone: str
    index: int | None
    monitor_id: str | None
    pollutant: Pollutant | None
    monitors: tuple[MonitorDaqi, ...]

    @property
    def reporting(self) -> int:
        """How many of the zone's monitors have an index."""
        return sum(1 for m in self.monitors if m.index is not None)

    @property
    def level(self) -> DaqiLevel | None:
        return daqi_level(self.index) if self.index is not None else None


def _instant(at: datetime | np.datetime64) -> np.datetime64:
    instant: np.datetime64 = utc_datetime64([at])[0]
    return instant


def _sub_index(monitor: Monitor, name: Pollutant, at: np.datetime64, capture: float) -> SubIndex:
    step = _QUARTER if name == "so2" else _HOUR
    seconds = int(step // np.timedelta64(1, "s"))
    end = np.datetime64(int(at.astype(np.int64)) // seconds * seconds, "s")
    if name in RUNNING:
        window, min_valid = RUNNING[name]
        expected, needed = window, min_valid
    else:
        window = min_valid = 1
        expected = round(seconds / monitor.interval_s)
        needed = required(seconds / monitor.interval_s, capture)
    start = end - window * step
    if name not in monitor.values:
        return SubIndex(name, None, None, start, end, 0, needed, expected, NoIndex.NOT_MEASURED)
    series = monitor.series(name)
    averages: Means
    if name == "so2":
        averages = quarter_hour_means(
            series, interval_s=monitor.interval_s, start=start, end=end, min_capture=capture
        )
    else:
        averages = hourly_means(
            series, interval_s=monitor.interval_s, start=start, end=end, min_capture=capture
        )
        if name in RUNNING:
            averages = running_means(averages, hours=window, min_valid=min_valid)
    mean = float(averages.mean[-1])
    count = int(averages.count[-1])
    if not np.isfinite(mean):
        return SubIndex(
            name, None, None, start, end, count, needed, expected, NoIndex.INSUFFICIENT_CAPTURE
        )
    return SubIndex(name, daqi_index(name, mean), mean, start, end, count, needed, expected)


def monitor_daqi(
    monitor: Monitor, *, at: datetime | np.datetime64, min_capture: float = DEFAULT_CAPTURE
) -> MonitorDaqi:
    """The monitor's DAQI at ``at`` (UTC), from periods ending at or before it.

    ``monitor`` needs readings back to 24 hours before ``at`` for the PM running means;
    ``min_capture`` is the share of expected readings an hour or 15-minute period needs."""
    instant = _instant(at)
    subs = tuple(_sub_index(monitor, name, instant, min_capture) for name in POLLUTANTS)
    indices = [s.index for s in subs if s.index is not None]
    top = max(indices) if indices else None
    setting = tuple(s.pollutant for s in subs if top is not None and s.index == top)
    return MonitorDaqi(monitor.monitor_id, instant, top, setting, subs)


def zone_daqi(zone: str, monitors: Sequence[MonitorDaqi]) -> ZoneDaqi:
    """The zone's DAQI from its monitors' (computed at the same instant)."""
    ordered = tuple(sorted(monitors, key=lambda m: m.monitor_id))
    indexed = [m for m in ordered if m.index is not None]
    if not indexed:
        return ZoneDaqi(zone, None, None, None, ordered)
    # max() keeps the first of equal maxima: the lowest monitor id.
    top = max(indexed, key=lambda m: m.index or 0)
    return ZoneDaqi(zone, top.index, top.monitor_id, top.pollutant, ordered)
