"""When a bay's restriction applies, as UTC intervals, and controlled time between instants.

Controlled hours are written in local time (``devices.hours.ControlledHours``, the one parser).
A restriction applies whenever the local wall clock reads a weekday and time within its hours,
which is exactly what ``ControlledHours.active(weekday, hour)`` answers for the local time of an
instant (the tests check the two agree at random instants, clock-change days included). So the
span is cut where the zone's UTC offset changes, and each piece's local days are mapped back with
that piece's offset: on the spring clock-change day the wall clock skips an hour (01:00-02:00 in
London) and time in it never happens, in autumn an hour happens twice and is controlled twice
if its hours cover it, and "At any time" runs local midnight to local midnight, 23 or 25 hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.parking.bays import LONDON
from devices.hours import ControlledHours

Floats = npt.NDArray[np.float64]
_DAY = 86_400.0
_PROBE = 6 * 3600.0
"""Offsets are probed this far apart; zones do not change offset twice in six hours."""


def utc_offset(t: float, tz: ZoneInfo) -> float:
    """Seconds the local clock is ahead of UTC at instant ``t``."""
    offset = datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _pieces(t0: float, t1: float, tz: ZoneInfo) -> list[tuple[float, float, float]]:
    """``[t0, t1)`` cut where the UTC offset changes: ``(start, end, offset)`` pieces."""
    pieces = []
    start, offset = t0, utc_offset(t0, tz)
    probe = t0
    while probe < t1:
        ahead = min(probe + _PROBE, t1)
        if utc_offset(ahead, tz) == offset:
            probe = ahead
            continue
        lo, hi = math.floor(probe), math.ceil(ahead)  # transitions fall on whole seconds
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if utc_offset(mid, tz) == offset else (lo, mid)
        pieces.append((start, float(hi), offset))
        start, offset, probe = float(hi), utc_offset(hi, tz), float(hi)
    pieces.append((start, t1, offset))
    return [p for p in pieces if p[1] > p[0]]


@dataclass(frozen=True, slots=True)
class ControlledTime:
    """Merged, sorted ``[start, end)`` UTC intervals within a span when a restriction applies,
    with the controlled seconds before each, so that controlled time up to any instant in the
    span is one binary search (vectorised)."""

    start: Floats
    end: Floats
    before: Floats

    @classmethod
    def over(
        cls, hours: ControlledHours, t0: float, t1: float, *, tz: ZoneInfo = LONDON
    ) -> ControlledTime:
        """The intervals within ``[t0, t1)``."""
        spans: list[tuple[float, float]] = []
        if hours.ranges and t1 > t0:
            for p0, p1, offset in _pieces(t0, t1, tz):
                local0, local1 = p0 + offset, p1 + offset
                for day in range(math.floor(local0 / _DAY), math.floor(local1 / _DAY) + 1):
                    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
                    for days, first, stop in hours.ranges:
                        if weekday in days:
                            a = max(day * _DAY + 60.0 * first, local0)
                            b = min(day * _DAY + 60.0 * stop, local1)
                            if b > a:
                                spans.append((a - offset, b - offset))
        spans.sort()
        merged: list[list[float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        start = np.array([m[0] for m in merged], dtype=np.float64)
        end = np.array([m[1] for m in merged], dtype=np.float64)
        before = np.concatenate(([0.0], np.cumsum(end - start)[:-1])) if merged else start
        return cls(start, end, before)

    def elapsed(self, t: npt.ArrayLike) -> Floats:
        """Controlled seconds from the span's start to each ``t``."""
        t = np.asarray(t, dtype=np.float64)
        if self.start.size == 0:
            return np.zeros_like(t)
        k = np.searchsorted(self.start, t, side="right") - 1
        kk = np.maximum(k, 0)
        inside = np.clip(t - self.start[kk], 0.0, self.end[kk] - self.start[kk])
        return np.where(k < 0, 0.0, self.before[kk] + inside)

    def active(self, t: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether the restriction applies at each ``t``."""
        t = np.asarray(t, dtype=np.float64)
        if self.start.size == 0:
            return np.zeros(t.shape, np.bool_)
        k = np.searchsorted(self.start, t, side="right") - 1
        return (k >= 0) & (t < self.end[np.maximum(k, 0)])

    def passes(self, total: npt.ArrayLike) -> Floats:
        """The instant after which controlled time since the span's start exceeds ``total``
        (``inf`` if not within the span; ``nan`` for ``nan``)."""
        total = np.asarray(total, dtype=np.float64)
        if self.start.size == 0:
            return np.where(np.isnan(total), np.nan, np.inf)
        upto = self.before + (self.end - self.start)
        k = np.searchsorted(upto, np.nan_to_num(total, nan=0.0), side="right")
        kk = np.minimum(k, self.start.size - 1)
        at = self.start[kk] + np.maximum(total - self.before[kk], 0.0)
        return np.where(np.isnan(total), np.nan, np.where(k >= self.start.size, np.inf, at))
