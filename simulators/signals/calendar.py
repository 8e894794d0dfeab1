"""Local clock features of UTC instants: hour of day, weekday and season, DST included.

Rush hours, shop hours and heating schedules follow local time, so a 08:00 peak stays at 08:00
on the wall clock across the spring and autumn clock changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulators.signals.noise import Floats

_DAY = 86_400.0
_YEAR_DAYS = 365.2425


@dataclass(frozen=True, slots=True)
class LocalTime:
    """Arrays aligned with the instants they describe."""

    hour: Floats
    """Local hour of day, fractional (0 <= hour < 24)."""
    weekday: NDArray[np.int64]
    """0 = Monday … 6 = Sunday."""
    year_phase: Floats
    """Fraction of the year since 1 January (0 <= phase < 1)."""
    local_day: NDArray[np.int64]
    """Local calendar day as days since 1970-01-01."""

    @property
    def winter(self) -> Floats:
        """1 in mid-January, 0 in mid-July, smooth in between."""
        result: Floats = 0.5 + 0.5 * np.cos(2.0 * np.pi * (self.year_phase - 0.04))
        return result

    @property
    def weekend(self) -> NDArray[np.bool_]:
        return self.weekday >= 5


_OFFSETS: dict[tuple[str, int], float] = {}


def utc_offsets(t: ArrayLike, tz: ZoneInfo) -> Floats:
    """UTC offset in seconds of each instant (looked up once per distinct hour, then cached)."""
    seconds = np.atleast_1d(np.asarray(t, dtype=np.float64))
    hours = np.floor(seconds / 3600.0).astype(np.int64)
    first, last = int(hours.min()), int(hours.max())
    if first == last or last - first < 4 * hours.size:
        table = np.array([_offset(tz, h) for h in range(first, last + 1)], dtype=np.float64)
        result: Floats = table[hours - first]
        return result
    unique, inverse = np.unique(hours, return_inverse=True)
    offsets = np.array([_offset(tz, int(h)) for h in unique], dtype=np.float64)
    result = offsets[inverse.reshape(-1)]
    return result


def _offset(tz: ZoneInfo, hour: int) -> float:
    key = (tz.key, hour)
    offset = _OFFSETS.get(key)
    if offset is None:
        if len(_OFFSETS) > 200_000:
            _OFFSETS.clear()
        delta = datetime.fromtimestamp(hour * 3600.0, UTC).astimezone(tz).utcoffset()
        offset = _OFFSETS[key] = delta.total_seconds() if delta is not None else 0.0
    return offset


def local_time(t: ArrayLike, tz: ZoneInfo) -> LocalTime:
    """Local clock features of POSIX instants ``t``."""
    seconds = np.atleast_1d(np.asarray(t, dtype=np.float64))
    local = seconds + utc_offsets(seconds, tz)
    days = np.floor(local / _DAY)
    hour = (local - days * _DAY) / 3600.0
    day = days.astype(np.int64)
    return LocalTime(
        hour=hour,
        weekday=(day + 3) % 7,  # 1970-01-01 was a Thursday
        year_phase=np.mod(local / _DAY / _YEAR_DAYS, 1.0),
        local_day=day,
    )


def bump(hour: Floats, centre: float, width: float) -> Floats:
    """A Gaussian bump over the hour of day (wrapping at midnight), 1 at ``centre``."""
    d = np.abs(hour - centre)
    d = np.minimum(d, 24.0 - d)
    result: Floats = np.exp(-0.5 * (d / width) ** 2)
    return result


class ScalarClock:
    """Local weekday and hour of single instants, for event-by-event models (offsets cached)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, float] = {}

    def offset(self, t: float) -> float:
        hour = int(t // 3600)
        offset = self._offsets.get(hour)
        if offset is None:
            delta = datetime.fromtimestamp(hour * 3600.0, UTC).astimezone(self.tz).utcoffset()
            offset = delta.total_seconds() if delta is not None else 0.0
            self._offsets[hour] = offset
        return offset

    def weekday_hour(self, t: float) -> tuple[int, float]:
        """(0 = Monday … 6 = Sunday, fractional local hour) at POSIX instant ``t``."""
        local = t + self.offset(t)
        day = int(local // 86_400)
        return (day + 3) % 7, (local - day * 86_400) / 3600.0

    def next_local(self, t: float, hour: float) -> float:
        """The first instant after ``t`` whose local hour is ``hour`` (ignores DST edge hours)."""
        local = t + self.offset(t)
        day = local // 86_400
        target = day * 86_400 + hour * 3600.0
        if target <= local:
            target += 86_400
        return target - self.offset(t)
