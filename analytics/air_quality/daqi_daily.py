"""The historical DAQI: one index per monitor per local day, vectorised over a long series.

A day is the local calendar day (Europe/London by default, 23 or 25 hours when the clocks
change); this is the one place besides compliance where local time matters. Each pollutant's
daily concentration [D after Defra's daily reporting, domain.md §1.2]:

- PM2.5, PM10: the day's midnight-to-midnight mean of hourly means (the historical form of the
  24-hour mean) [V2/M];
- O3: the day's highest running 8-hour mean, over the 8-hour periods that *end* in the day;
- NO2: the day's highest hourly mean; SO2: the day's highest 15-minute mean.

Data capture stacks: each hour (or 15 minutes) needs 75% of its readings, each running 8-hour
mean 6 of 8 hours, and the day 75% of its periods (18 of 24 hours). A day that fails gives
:data:`~.daqi.NO_INDEX` for that pollutant. The day's index is the highest sub-index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from analytics.air_quality.averaging import (
    DEFAULT_CAPTURE,
    LONDON,
    Daily,
    Days,
    Means,
    daily,
    hourly_means,
    local_dates,
    quarter_hour_means,
    running_means,
)
from analytics.air_quality.daqi import NO_INDEX, Indices, daqi_indices
from analytics.air_quality.daqi_monitor import RUNNING
from analytics.air_quality.pollutants import POLLUTANTS, Pollutant
from analytics.air_quality.series import Monitor

_HOUR = np.timedelta64(3600, "s")


@dataclass(frozen=True, slots=True, eq=False)  # numpy arrays have no single truth value
class DailyDaqi:
    """A monitor's DAQI for each local day; :data:`~.daqi.NO_INDEX` (0) where it has none."""

    monitor_id: str
    day: Days
    index: Indices
    pollutant: npt.NDArray[np.object_]
    """The pollutant setting each day's index (the first in :data:`POLLUTANTS` on a tie),
    ``None`` on days without one."""
    sub_index: Mapping[Pollutant, Indices]
    concentration: Mapping[Pollutant, Daily]
    """Each measured pollutant's daily value (µg/m³, unrounded) with its data capture."""

    def __len__(self) -> int:
        return len(self.day)


def _periods(
    monitor: Monitor, name: Pollutant, capture: float
) -> tuple[Means, Literal["mean", "max"]]:
    """The periods a pollutant's daily value is taken from, and how."""
    series = monitor.series(name)
    # From a day early, so the first day's running means have their earlier hours (missing).
    start = (monitor.timestamps[0].astype("datetime64[D]") - np.timedelta64(1, "D")).astype(
        "datetime64[s]"
    )
    end = (monitor.timestamps[-1].astype("datetime64[D]") + np.timedelta64(2, "D")).astype(
        "datetime64[s]"
    )
    interval = monitor.interval_s
    if name == "so2":
        quarters = quarter_hour_means(
            series, interval_s=interval, start=start, end=end, min_capture=capture
        )
        return quarters, "max"
    hours = hourly_means(series, interval_s=interval, start=start, end=end, min_capture=capture)
    if name == "no2":
        return hours, "max"
    if name == "o3":
        window, valid = RUNNING["o3"]
        return running_means(hours, hours=window, min_valid=valid), "max"
    return hours, "mean"


def daily_daqi(
    monitor: Monitor, *, tz: str = LONDON, min_capture: float = DEFAULT_CAPTURE
) -> DailyDaqi:
    """The DAQI of every local day the monitor's readings touch (QC-clean them first)."""
    if not len(monitor):
        empty = np.array([], dtype="datetime64[D]")
        return DailyDaqi(
            monitor.monitor_id, empty, np.zeros(0, np.int8), np.array([], object), {}, {}
        )
    dates = local_dates(monitor.timestamps[[0, -1]], tz)
    first, last = dates[0], dates[1]
    values: dict[Pollutant, Daily] = {}
    subs: dict[Pollutant, Indices] = {}
    for name in POLLUTANTS:
        if name in monitor.values:
            periods, how = _periods(monitor, name, min_capture)
            values[name] = daily(
                periods, how=how, tz=tz, first_day=first, last_day=last, min_capture=min_capture
            )
            subs[name] = daqi_indices(name, values[name].value)
    n = int((last - first).astype(np.int64)) + 1
    stacked = np.stack([subs[p] for p in subs]) if subs else np.zeros((1, n), np.int8)
    index = stacked.max(axis=0).astype(np.int8)
    names = np.array([*subs] if subs else [None], dtype=object)
    setter = names[stacked.argmax(axis=0)]  # argmax takes the first maximum: POLLUTANTS order
    setter[index == NO_INDEX] = None
    return DailyDaqi(
        monitor.monitor_id,
        np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]"),
        index,
        setter,
        MappingProxyType(subs),
        MappingProxyType(values),
    )
