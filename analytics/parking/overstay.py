"""Overstay: parked longer than the bay's maximum stay plus a grace period, counting only time
within the bay's controlled hours.

Definition (domain.md §5.2, [D]): ``dwell > max_stay + grace``, with the grace configurable and
10 minutes by default: in England a penalty charge notice cannot be issued until 10 minutes
after the permitted time ends (domain.md §5.2, the 2015 amendment regulations, marked [M] there).
Only controlled time counts: a bay outside its hours is not overstaying, and a stay that spans
the end of the hours carries its controlled time into the next controlled period (a car parked
at 18:00 in a bay controlled until 18:30 has used 30 minutes when the hours start again next
morning). A bay with no ``max_stay_minutes`` never overstays. The overstay begins at the instant
the controlled time passes the limit, strictly: exactly at the limit is not yet an overstay.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.parking.bays import LONDON, BayInfo
from analytics.parking.controlled import ControlledTime

GRACE_S = 600.0
"""England: 10 minutes (domain.md §5.2)."""
_DAY = 86_400.0
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Overstay:
    since: float
    """When the controlled time parked passed ``limit_s``."""
    controlled_s: float
    """Controlled time parked up to now."""
    limit_s: float
    """Maximum stay plus grace."""


def limit_s(bay: BayInfo, grace_s: float) -> float | None:
    """The controlled seconds a bay allows before an overstay; ``None`` without a maximum stay."""
    return None if bay.max_stay_minutes is None else 60.0 * bay.max_stay_minutes + grace_s


def overstay(
    bay: BayInfo, arrived: float, now: float, *, grace_s: float = GRACE_S, tz: ZoneInfo = LONDON
) -> Overstay | None:
    """Whether the vehicle that arrived at ``arrived`` is overstaying at ``now``, and since when.

    For the alert service: ``arrived`` is the ``since`` of an ``occupied`` bay state.
    """
    limit = limit_s(bay, grace_s)
    if limit is None or now <= arrived:
        return None
    controlled = ControlledTime.over(bay.hours, arrived, now, tz=tz)
    used = float(controlled.elapsed(now))
    if used <= limit:
        return None
    return Overstay(float(controlled.passes(limit)), used, limit)


def overstay_at(
    bay: BayInfo,
    arrived: float,
    *,
    grace_s: float = GRACE_S,
    tz: ZoneInfo = LONDON,
    within_s: float = 400 * _DAY,
) -> float | None:
    """When a vehicle that arrived at ``arrived`` starts overstaying if it stays (so a service
    can set a timer rather than poll); ``None`` if never within ``within_s``."""
    limit = limit_s(bay, grace_s)
    if limit is None or not bay.hours.ranges:
        return None
    span = max(7 * _DAY, 2.0 * limit)
    while True:
        at = float(ControlledTime.over(bay.hours, arrived, arrived + span, tz=tz).passes(limit))
        if np.isfinite(at):
            return at
        if span >= within_s:
            return None
        span = min(2.0 * span, within_s)


def session_overstays(
    bays: tuple[BayInfo, ...],
    bay: npt.NDArray[np.intp],
    start: Floats,
    end: Floats,
    *,
    grace_s: float = GRACE_S,
    tz: ZoneInfo = LONDON,
) -> tuple[Floats, Floats]:
    """For sessions ``[start, end)`` at ``bays[bay]``: controlled seconds parked, and when each
    became an overstay (``nan`` if it did not, or its bay has no maximum stay). Vectorised:
    one interval table per distinct set of controlled hours."""
    used = np.zeros(start.size)
    since = np.full(start.size, np.nan)
    limits = np.array([np.nan if (x := limit_s(b, grace_s)) is None else x for b in bays])
    patterns: dict[object, int] = {}
    pattern = np.array([patterns.setdefault(b.hours, len(patterns)) for b in bays], np.intp)
    session_pattern = pattern[bay] if bays else np.empty(0, np.intp)
    for k in range(len(patterns)):
        pick = np.flatnonzero(session_pattern == k)
        if pick.size == 0:
            continue
        s, e = start[pick], end[pick]
        hours = bays[int(np.flatnonzero(pattern == k)[0])].hours
        table = ControlledTime.over(hours, float(s.min()), float(e.max()), tz=tz)
        at_start = table.elapsed(s)
        used[pick] = table.elapsed(e) - at_start
        limit = limits[bay[pick]]
        over = used[pick] > limit  # False where the limit is nan
        since[pick[over]] = table.passes(at_start[over] + limit[over])
    return used, since
