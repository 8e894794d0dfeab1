"""Parking performance over a window ``[t0, t1)``: occupancy, peak, turnover, dwell, overstay;
per bay, street, zone or all. Definitions from domain.md §5.2 (formulas [D]); decisions §6.10:

* **Occupancy** = occupied bay-seconds / observed bay-seconds, sessions clipped to the window.
  ``unknown`` time, and time before a bay was first heard from, is left out of both: a silent
  sensor is neither a full bay nor an empty one.
* **Peak occupancy** = the highest occupancy of any ``slot_s`` slot (default 15 minutes) of the
  window, with the slot's start. A slot rather than an instant, because an instantaneous peak
  of a small street is 100 % whenever its bays happen to fill at once.
* **Turnover** = arrivals / observed bay-days (``period_s``): §5.2's ``sessions / bays / period``
  with ``unknown`` time left out of the bays x period, as for occupancy. A session counts in the
  window where it starts, and only if its arrival was seen (free just before it); a session
  already there when observation began or resumed started at some unknown time.
* **Dwell** = departure - arrival of the sessions counted in turnover whose departure was seen,
  at full length, even when they end after ``t1``. Not clipped: cutting a stay at a window edge
  would count one long stay as two short ones and hide overstays; attribute each stay once, to
  its arrival, as turnover does. Sessions still in progress, or lost to ``unknown``, have no
  length yet: they are counted in ``open``, not in dwell. Pass readings past ``t1`` (by the
  longest stay you care about) to see those departures.
* **Overstay** (:mod:`analytics.parking.overstay`): a counted session whose controlled time passed
  max stay + grace. An open session that has already passed it is an overstay too; one that has
  not is undecided and left out of ``overstay_rate``'s denominator.

``controlled_only`` restricts the observation to each bay's controlled hours (§5.2 measures
"during controlled hours"): time outside them counts in nothing, and only arrivals during them
count. Everything is numpy over a :class:`~analytics.parking.timeline.Fleet` (a month of 5,000
bays is a few million segments); Python loops only over groups and sets of controlled hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.parking.bays import LONDON, Grouping, group_index
from analytics.parking.controlled import ControlledTime
from analytics.parking.overstay import GRACE_S, session_overstays
from analytics.parking.series import occupancy_slots
from analytics.parking.timeline import OCCUPIED, UNKNOWN, Fleet, sessions

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ParkingMetrics:
    bays: int
    window_s: float
    """Bay-seconds in the window (controlled bay-seconds with ``controlled_only``)."""
    observed_s: float
    occupied_s: float
    occupancy: float | None
    arrivals: int
    turnover: float | None
    """Arrivals per observed bay per ``period_s``."""
    completed: int
    """Arrivals whose departure was seen: the dwell population."""
    open: int
    dwell_mean_s: float | None
    dwell_median_s: float | None
    overstays: int
    overstay_rate: float | None
    """Overstays / counted sessions at bays with a maximum stay whose outcome is known."""

    @property
    def unknown_s(self) -> float:
        return self.window_s - self.observed_s


@dataclass(frozen=True, slots=True)
class Peak:
    occupancy: float
    slot_start: float


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def window_metrics(
    fleet: Fleet,
    t0: float,
    t1: float,
    *,
    by: Grouping,
    grace_s: float = GRACE_S,
    controlled_only: bool = False,
    period_s: float = 86_400.0,
    tz: ZoneInfo = LONDON,
) -> dict[str, ParkingMetrics]:
    """The metrics above per group."""
    labels, group = group_index(fleet.bays, by)
    size = len(labels)
    a = np.maximum(fleet.start, t0)
    b = np.maximum(np.minimum(fleet.end, t1), a)
    window = np.full(len(fleet.bays), t1 - t0)
    session = sessions(fleet)
    counted = session.arrival_seen & (session.start >= t0) & (session.start < t1)
    if controlled_only:
        overlap = np.zeros(a.size)
        patterns: dict[object, int] = {}
        pattern = np.array(
            [patterns.setdefault(b.hours, len(patterns)) for b in fleet.bays], np.intp
        )
        for k in range(len(patterns)):
            members = np.flatnonzero(pattern == k)
            table = ControlledTime.over(fleet.bays[members[0]].hours, t0, t1, tz=tz)
            window[members] = table.elapsed(t1)
            seg = pattern[fleet.bay] == k
            overlap[seg] = table.elapsed(b[seg]) - table.elapsed(a[seg])
            mine = pattern[session.bay] == k
            counted[mine] &= table.active(session.start[mine])
    else:
        overlap = b - a
    seg_group = group[fleet.bay]
    occupied = np.bincount(seg_group, overlap * (fleet.code == OCCUPIED), size)
    observed = np.bincount(seg_group, overlap * (fleet.code != UNKNOWN), size)
    windows = np.bincount(group, window, size)
    bays = np.bincount(group, minlength=size)

    pick = np.flatnonzero(counted)
    s_bay, s_start, s_end = session.bay[pick], session.start[pick], session.end[pick]
    done = session.departure_seen[pick]
    _, since = session_overstays(fleet.bays, s_bay, s_start, s_end, grace_s=grace_s, tz=tz)
    over = ~np.isnan(since)
    limited = np.array([b.max_stay_minutes is not None for b in fleet.bays], np.bool_)[s_bay]
    s_group = group[s_bay]
    arrivals = np.bincount(s_group, minlength=size)
    completed = np.bincount(s_group, done, size)
    overstays = np.bincount(s_group, over, size)
    decided = np.bincount(s_group, limited & (done | over), size)
    dwell = s_end - s_start
    order = np.lexsort((dwell, s_group))
    sorted_group, sorted_dwell, sorted_done = s_group[order], dwell[order], done[order]
    bounds = np.searchsorted(sorted_group, np.arange(size + 1))

    out = {}
    for g, label in enumerate(labels):
        stays = sorted_dwell[bounds[g] : bounds[g + 1]][sorted_done[bounds[g] : bounds[g + 1]]]
        out[label] = ParkingMetrics(
            bays=int(bays[g]),
            window_s=float(windows[g]),
            observed_s=float(observed[g]),
            occupied_s=float(occupied[g]),
            occupancy=_ratio(float(occupied[g]), float(observed[g])),
            arrivals=int(arrivals[g]),
            turnover=_ratio(float(arrivals[g]), float(observed[g]) / period_s),
            completed=int(completed[g]),
            open=int(arrivals[g] - completed[g]),
            dwell_mean_s=float(stays.mean()) if stays.size else None,
            dwell_median_s=float(np.median(stays)) if stays.size else None,
            overstays=int(overstays[g]),
            overstay_rate=_ratio(float(overstays[g]), float(decided[g])),
        )
    return out


def peak_occupancy(
    fleet: Fleet, t0: float, t1: float, *, by: Grouping, slot_s: float = 900.0
) -> dict[str, Peak | None]:
    """The busiest slot of the window per group; ``None`` where nothing was observed."""
    out: dict[str, Peak | None] = {}
    for label, slots in occupancy_slots(fleet, t0, t1, by=by, slot_s=slot_s).items():
        occupancy = slots.occupancy
        if np.all(np.isnan(occupancy)):
            out[label] = None
            continue
        k = int(np.nanargmax(occupancy))
        out[label] = Peak(float(occupancy[k]), float(slots.starts[k]))
    return out
