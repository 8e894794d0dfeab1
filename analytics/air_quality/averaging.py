"""Averaging periods and data capture: the means the DAQI and the compliance statistics use.

Every mean here is a period ``[start, end)`` with a data-capture rule [D unless marked]:

- **Period means** (the hour for NO2, 15 minutes for SO2, each hour that feeds a running mean):
  the mean of the readings timestamped inside the period, valid when there are at least
  ``ceil(min_capture x expected)`` of them (default 75%), where ``expected = period /
  interval_s`` comes from the monitor's reporting interval. With the 5-minute air-quality
  monitors an hour needs 9 of 12 readings; a 15-minute period needs all 3 (75% of 3 rounds up).
- **Running means** (O3 8 hours, PM 24 hours) are means of the valid hourly means in the window,
  valid with at least 6 of 8 [V2: Defra 2013 note] or 18 of 24 [M] hours. Hours before the
  first hour given count as missing, so fetch ``window - 1`` extra hours before the first
  running mean you need.
- **Daily values** group periods by the *local* day (Europe/London by default; 23 or 25 hours on
  clock-change days) that contains the period's last instant, so the 8-hour mean ending at
  midnight belongs to the day before, as in the EU/UK rule for daily maximum 8-hour means. A day
  is valid with at least 75% of the periods it contains.

Concentrations are never rounded here: Defra rounds once, at the end (:mod:`.daqi`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from analytics.air_quality.series import Floats, Instants, Series

Ints = npt.NDArray[np.int64]
Days = npt.NDArray[np.datetime64]

DEFAULT_CAPTURE = 0.75
LONDON = "Europe/London"
_SECOND = np.timedelta64(1, "s")


def required(expected: float, min_capture: float) -> int:
    """How many of ``expected`` readings or periods make a valid mean (at least one)."""
    # The tolerance keeps 0.75 x 12 at 9, not 10, whatever the float error.
    return max(1, math.ceil(min_capture * expected - 1e-9))


@dataclass(frozen=True, slots=True, eq=False)  # numpy arrays have no single truth value
class Means:
    """Means over consecutive periods ``[start, start + period)``, NaN where data capture fails.

    ``count`` is how many readings (or valid hours, for running means) each mean used;
    ``expected`` how many a full period has; ``needed`` how many make it valid.
    """

    start: Instants
    period: np.timedelta64
    mean: Floats
    count: Ints
    expected: float
    needed: int

    def __len__(self) -> int:
        return len(self.start)

    @property
    def end(self) -> Instants:
        return self.start + self.period

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        return np.isfinite(self.mean)


def _floor(instant: np.datetime64, period_s: int) -> np.datetime64:
    seconds = instant.astype("datetime64[s]").astype(np.int64)
    return np.datetime64(int(seconds // period_s * period_s), "s")


def period_means(
    series: Series,
    *,
    period_s: int,
    interval_s: int,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
    min_capture: float = DEFAULT_CAPTURE,
) -> Means:
    """Means of ``series`` over UTC periods of ``period_s`` seconds aligned to the epoch.

    The periods run from ``start`` (floored to a period) up to ``end`` (exclusive); by default
    they cover the series. NaN readings (missing, or flagged by QC) do not count.
    """
    if period_s <= 0 or interval_s <= 0:
        raise ValueError("period_s and interval_s must be positive")
    step = np.timedelta64(period_s, "s")
    ts = series.timestamps
    if start is None:
        start = ts[0] if len(ts) else np.datetime64(0, "s")
    if end is None:
        end = ts[-1] + _SECOND if len(ts) else start
    first = _floor(start, period_s)
    n = max(0, int(-((first - end.astype("datetime64[s]")) // step)))  # ceil division
    index = (ts - first) // step
    keep = (index >= 0) & (index < n) & np.isfinite(series.values)
    count = np.bincount(index[keep], minlength=n).astype(np.int64)
    sums = np.bincount(index[keep], weights=series.values[keep], minlength=n)
    expected = period_s / interval_s
    needed = required(expected, min_capture)
    mean = np.full(n, np.nan)
    np.divide(sums, count, out=mean, where=count >= needed)
    starts = first + np.arange(n) * step
    return Means(starts, step, mean, count, expected, needed)


def hourly_means(
    series: Series,
    *,
    interval_s: int,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
    min_capture: float = DEFAULT_CAPTURE,
) -> Means:
    """UTC hourly means (NO2's DAQI metric; the input to running means and annual statistics)."""
    return period_means(
        series, period_s=3600, interval_s=interval_s, start=start, end=end, min_capture=min_capture
    )


def quarter_hour_means(
    series: Series,
    *,
    interval_s: int,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
    min_capture: float = DEFAULT_CAPTURE,
) -> Means:
    """UTC 15-minute means (SO2's DAQI metric)."""
    return period_means(
        series, period_s=900, interval_s=interval_s, start=start, end=end, min_capture=min_capture
    )


def means_from_rollup(
    bucket: Instants,
    samples: npt.ArrayLike,
    avg: npt.ArrayLike,
    *,
    interval_s: int,
    period_s: int = 3600,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
    min_capture: float = DEFAULT_CAPTURE,
) -> Means:
    """:class:`Means` from one device's rollup rows (the read side's hourly ``n`` and ``avg``).

    Buckets without a row (no readings at all) become missing periods on a gap-free grid."""
    starts = np.asarray(bucket).astype("datetime64[s]")
    counts = np.nan_to_num(np.asarray(samples, dtype=np.float64)).astype(np.int64)
    values = np.asarray(avg, dtype=np.float64)
    step = np.timedelta64(period_s, "s")
    if start is None:
        start = starts[0] if len(starts) else np.datetime64(0, "s")
    if end is None:
        end = starts[-1] + step if len(starts) else start
    first = _floor(start, period_s)
    n = max(0, int(-((first - end.astype("datetime64[s]")) // step)))
    index = (starts - first) // step
    keep = (index >= 0) & (index < n)
    count = np.zeros(n, dtype=np.int64)
    total = np.zeros(n)
    count[index[keep]] = counts[keep]
    total[index[keep]] = values[keep]
    expected = period_s / interval_s
    needed = required(expected, min_capture)
    mean = np.where((count >= needed) & np.isfinite(total), total, np.nan)
    return Means(first + np.arange(n) * step, step, mean, count, expected, needed)


def running_means(hourly: Means, *, hours: int, min_valid: int) -> Means:
    """Means of the valid hourly means over each window of ``hours`` ending with each hour.

    Element ``i`` covers hours ``i - hours + 1 … i``: its ``start`` is the window's start and
    its end the end of hour ``i``. Valid with at least ``min_valid`` valid hours."""
    if not 1 <= min_valid <= hours:
        raise ValueError(f"min_valid must be 1..{hours}, not {min_valid}")
    valid = hourly.valid
    values = np.where(valid, hourly.mean, 0.0)
    pad = hours - 1
    windows = sliding_window_view(np.concatenate([np.zeros(pad), values]), hours)
    counts = sliding_window_view(np.concatenate([np.zeros(pad, bool), valid]), hours).sum(axis=1)
    mean = np.full(len(hourly), np.nan)
    np.divide(windows.sum(axis=1), counts, out=mean, where=counts >= min_valid)
    return Means(
        hourly.start - pad * hourly.period,
        hourly.period * hours,
        mean,
        counts.astype(np.int64),
        float(hours),
        min_valid,
    )


# --- local days ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)  # numpy arrays have no single truth value
class Daily:
    """One value per local day, NaN where the day's data capture fails."""

    day: Days
    value: Floats
    count: Ints
    expected: Ints
    needed: Ints

    def __len__(self) -> int:
        return len(self.day)

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        return np.isfinite(self.value)


def local_dates(instants: Instants, tz: str = LONDON) -> Days:
    """The local calendar date (``datetime64[D]``) of each UTC instant."""
    zone = ZoneInfo(tz)
    unique, inverse = np.unique(instants.astype("datetime64[s]"), return_inverse=True)
    offsets = np.array(
        [_offset_s(int(s), zone) for s in unique.astype(np.int64).tolist()], dtype=np.int64
    )
    local = unique + offsets.astype("timedelta64[s]")
    dates: Days = local.astype("datetime64[D]")[inverse.reshape(-1)]
    return dates


def _offset_s(epoch_s: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(epoch_s, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def day_bounds(days: Days, tz: str = LONDON) -> tuple[Instants, Instants]:
    """The UTC instants at which each local day starts and ends."""
    zone = ZoneInfo(tz)

    def midnight(day: np.datetime64) -> np.datetime64:
        local = datetime.fromisoformat(str(day.astype("datetime64[D]"))).replace(tzinfo=zone)
        return np.datetime64(int(local.timestamp()), "s")

    starts = np.array([midnight(d) for d in days], dtype="datetime64[s]")
    ends = np.array([midnight(d + np.timedelta64(1, "D")) for d in days], dtype="datetime64[s]")
    return starts, ends


def daily(
    means: Means,
    *,
    how: Literal["mean", "max"],
    tz: str = LONDON,
    first_day: np.datetime64 | None = None,
    last_day: np.datetime64 | None = None,
    min_capture: float = DEFAULT_CAPTURE,
) -> Daily:
    """The mean or the maximum of each local day's valid periods.

    A period belongs to the day holding its last instant. Days run from ``first_day`` to
    ``last_day`` inclusive (by default those the periods touch)."""
    owner = local_dates(means.end - _SECOND, tz) if len(means) else np.array([], "datetime64[D]")
    if first_day is None:
        first_day = owner.min() if len(owner) else np.datetime64("1970-01-01")
    if last_day is None:
        last_day = owner.max() if len(owner) else first_day - np.timedelta64(1, "D")
    days = np.arange(first_day, last_day + np.timedelta64(1, "D"), dtype="datetime64[D]")
    n = len(days)
    index = (owner - days[0]).astype(np.int64) if n else np.zeros(0, np.int64)
    keep = (index >= 0) & (index < n) & means.valid
    count = np.bincount(index[keep], minlength=n).astype(np.int64)
    starts, ends = day_bounds(days, tz)
    expected = ((ends - starts) // means.period).astype(np.int64)
    needed = np.array([required(float(e), min_capture) for e in expected], dtype=np.int64)
    ok = count >= needed
    value = np.full(n, np.nan)
    if how == "mean":
        sums = np.bincount(index[keep], weights=means.mean[keep], minlength=n)
        np.divide(sums, count, out=value, where=ok)
    else:
        peak = np.full(n, -np.inf)
        np.maximum.at(peak, index[keep], means.mean[keep])
        value[ok] = peak[ok]
    return Daily(days, value, count, expected, needed)
