"""A monitor's calendar year against the UK limits and the WHO 2021 guidelines (:mod:`.limits`).

Input is the year's hourly means (:func:`.averaging.hourly_means` over QC-cleaned readings, or
:func:`.averaging.means_from_rollup` over the read side's hourly rollup), plus 15-minute means
for the SO2 15-minute objective. Decisions [D unless marked]:

- **Year and days are local** (Europe/London by default; pass ``tz="UTC"`` for GMT days as in
  the UK-AIR archive). Hours and 15-minute periods are UTC; at New Year London is on GMT, so
  the year holds exactly 8760 or 8784 hours.
- **Statistics**: the annual mean is the mean of the valid hourly means; a day's mean needs 75%
  of its hours; a day's maximum 8-hour mean is over the running means (6 of 8 hours) ending
  that day and needs 75% of them (18), as the EU/UK rule does [M].
- **Data capture**: ``valid / expected`` periods of the metric in the year. Below
  ``min_capture`` (75% by default; statutory reporting asks more, about 90% [M]) a
  mean or percentile is reported but the outcome is ``INSUFFICIENT_DATA``. A count above the
  allowed number is ``EXCEEDED`` whatever the capture (missing hours cannot undo an
  exceedance); a count within it with low capture is ``INSUFFICIENT_DATA``.
- **Exceeding** is strictly above the level, compared unrounded: 40.2 µg/m³ exceeds 40.
- **99th percentile** (WHO short-term guidelines): nearest rank, the ``ceil(0.99 n)``-th
  smallest of the ``n`` valid daily values, so in a full year of 365 days at most 3 days may
  lie above the guideline.
- **O3 peak season** (WHO): monthly means of the daily maximum 8-hour means (a month needs 75%
  of its days), then the highest mean of six consecutive months within the calendar year
  (WHO's season may straddle New Year; this does not look across years).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.air_quality.averaging import (
    DEFAULT_CAPTURE,
    LONDON,
    Daily,
    Means,
    daily,
    hourly_means,
    quarter_hour_means,
    required,
    running_means,
)
from analytics.air_quality.daqi_monitor import RUNNING
from analytics.air_quality.limits import Metric, Objective, objectives_for
from analytics.air_quality.pollutants import POLLUTANTS, Pollutant
from analytics.air_quality.pollutants import pollutant as as_pollutant
from analytics.air_quality.series import Monitor, Series


class Outcome(Enum):
    MET = "met"
    EXCEEDED = "exceeded"
    INSUFFICIENT_DATA = "insufficient data capture"


@dataclass(frozen=True, slots=True)
class Result:
    """One objective's verdict for the year."""

    objective: Objective
    outcome: Outcome
    value: float | None
    """The statistic in µg/m³ (mean, percentile), or the exceedance count for counting
    metrics; ``None`` without any valid data."""
    valid: int
    """Periods of the metric (hours, 15-minute periods, days or months) with valid data."""
    expected: int

    @property
    def capture(self) -> float:
        return self.valid / self.expected if self.expected else 0.0

    @property
    def exceedances(self) -> int | None:
        return int(self.value) if self.objective.metric.counts and self.value is not None else None


@dataclass(frozen=True, slots=True)
class YearCompliance:
    monitor_id: str
    pollutant: Pollutant
    year: int
    results: tuple[Result, ...]

    def result(self, key: str) -> Result:
        return next(r for r in self.results if r.objective.key == key)

    @property
    def exceeded(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.EXCEEDED)


def _utc(year: int, tz: str) -> np.datetime64:
    return np.datetime64(int(datetime(year, 1, 1, tzinfo=ZoneInfo(tz)).timestamp()), "s")


def _in_year(
    means: Means, start: np.datetime64, end: np.datetime64
) -> tuple[npt.NDArray[np.float64], int]:
    inside = (means.start >= start) & (means.start < end)
    expected = int((end - start) // means.period)
    return means.mean[inside & means.valid], expected


def _nearest_rank(values: npt.NDArray[np.float64], q: float) -> float:
    ordered = np.sort(values)
    return float(ordered[math.ceil(q * len(ordered) - 1e-9) - 1])


def _verdict(
    objective: Objective, value: float | None, valid: int, expected: int, capture: float
) -> Result:
    enough = valid >= required(expected, capture)
    if value is None:
        outcome = Outcome.INSUFFICIENT_DATA
    elif value > (objective.allowed if objective.metric.counts else objective.level_ugm3):
        outcome = (
            Outcome.EXCEEDED if enough or objective.metric.counts else Outcome.INSUFFICIENT_DATA
        )
    else:
        outcome = Outcome.MET if enough else Outcome.INSUFFICIENT_DATA
    return Result(objective, outcome, value, valid, expected)


def _peak_season(days: Daily, capture: float) -> tuple[float | None, int]:
    months = days.day.astype("datetime64[M]")
    first = months.min()
    index = (months - first).astype(np.int64)
    monthly = np.full(12, np.nan)
    for m in range(min(12, int(index.max()) + 1)):
        in_month = index == m
        valid = days.valid & in_month
        if valid.sum() >= required(float(in_month.sum()), capture):
            monthly[m] = days.value[valid].mean()
    windows = np.lib.stride_tricks.sliding_window_view(monthly, 6).mean(axis=1)
    good = windows[np.isfinite(windows)]
    return (float(good.max()) if len(good) else None), int(np.isfinite(monthly).sum())


def assess_year(
    pollutant: str,
    hourly: Means,
    *,
    year: int,
    monitor_id: str = "",
    quarter_hourly: Means | None = None,
    tz: str = LONDON,
    min_capture: float = DEFAULT_CAPTURE,
    objectives: Sequence[Objective] | None = None,
) -> YearCompliance:
    """Every objective for ``pollutant`` (or those given) over the local calendar ``year``.

    ``hourly`` should start 7 hours before the year so that the 1 January 8-hour means are
    whole. Objectives on 15-minute means are judged only when ``quarter_hourly`` is given."""
    name = as_pollutant(pollutant)
    start, end = _utc(year, tz), _utc(year + 1, tz)
    first_day, last_day = np.datetime64(f"{year}-01-01"), np.datetime64(f"{year}-12-31")
    chosen = objectives_for(name) if objectives is None else objectives
    day_means = daily(
        hourly, how="mean", tz=tz, first_day=first_day, last_day=last_day, min_capture=min_capture
    )
    window, valid_hours = RUNNING["o3"]
    eight = running_means(hourly, hours=window, min_valid=valid_hours)
    day_max8 = daily(
        eight, how="max", tz=tz, first_day=first_day, last_day=last_day, min_capture=min_capture
    )
    results = []
    for objective in chosen:
        if objective.pollutant != name:
            raise ValueError(f"{objective.key} is not an objective for {name}")
        metric = objective.metric
        value: float | None
        if metric in (
            Metric.ANNUAL_MEAN,
            Metric.HOURLY_EXCEEDANCES,
            Metric.QUARTER_HOUR_EXCEEDANCES,
        ):
            source = quarter_hourly if metric is Metric.QUARTER_HOUR_EXCEEDANCES else hourly
            if source is None:
                continue
            values, expected = _in_year(source, start, end)
            if metric is Metric.ANNUAL_MEAN:
                value = float(values.mean()) if len(values) else None
            else:
                value = float((values > objective.level_ugm3).sum())
            valid = len(values)
        elif metric is Metric.PEAK_SEASON:
            value, valid = _peak_season(day_max8, min_capture)
            expected = 12
        else:
            days = day_means if metric in (Metric.DAILY_EXCEEDANCES, Metric.DAILY_P99) else day_max8
            values = days.value[days.valid]
            valid, expected = len(values), len(days)
            if metric.counts:
                value = float((values > objective.level_ugm3).sum())
            else:
                value = _nearest_rank(values, 0.99) if len(values) else None
        results.append(_verdict(objective, value, valid, expected, min_capture))
    return YearCompliance(monitor_id, name, year, tuple(results))


def assess_monitor_year(
    monitor: Monitor, *, year: int, tz: str = LONDON, min_capture: float = DEFAULT_CAPTURE
) -> tuple[YearCompliance, ...]:
    """:func:`assess_year` for each pollutant the monitor measures, from its raw readings
    (QC-cleaned first: :func:`.qc.clean_monitor`)."""
    start = _utc(year, tz) - np.timedelta64(7 * 3600, "s")
    end = _utc(year + 1, tz)
    out = []
    for name in POLLUTANTS:
        if name not in monitor.values:
            continue
        series: Series = monitor.series(name)
        hours = hourly_means(
            series, interval_s=monitor.interval_s, start=start, end=end, min_capture=min_capture
        )
        quarters = None
        if name == "so2":
            quarters = quarter_hour_means(
                series, interval_s=monitor.interval_s, start=start, end=end, min_capture=min_capture
            )
        out.append(
            assess_year(
                name,
                hours,
                year=year,
                monitor_id=monitor.monitor_id,
                quarter_hourly=quarters,
                tz=tz,
                min_capture=min_capture,
            )
        )
    return tuple(out)
