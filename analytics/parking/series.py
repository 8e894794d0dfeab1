"""Occupancy of groups of bays as time series: bay-seconds per slot, and counts at instants.

Both are exact over the timelines (no sampling): bay-seconds come from the integral of the
number of bays in a status, which is piecewise linear, read at the slot edges with a binary
search over sorted segment starts and ends. ``unknown`` time (and time a bay was never
observed) counts in neither ``occupied_s`` nor ``observed_s`` (domain.md §5.2, §6.10).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.parking.bays import Grouping, group_index
from analytics.parking.timeline import FREE, OCCUPIED, UNKNOWN, Fleet

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SlotOccupancy:
    """One group's bay-seconds per slot ``[t0 + k·slot_s, t0 + (k+1)·slot_s)`` (the last slot
    ends at the window's end)."""

    t0: float
    slot_s: float
    bays: int
    occupied_s: Floats
    observed_s: Floats

    @property
    def starts(self) -> Floats:
        return self.t0 + self.slot_s * np.arange(self.occupied_s.size, dtype=np.float64)

    @property
    def occupancy(self) -> Floats:
        """Occupied share of observed time per slot; ``nan`` where nothing was observed."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.observed_s > 0, self.occupied_s / self.observed_s, np.nan)


@dataclass(frozen=True, slots=True)
class InstantCounts:
    """One group's bays per status at each of a sequence of instants."""

    free: Counts
    occupied: Counts
    unknown: Counts


def _integral(start: Floats, end: Floats, x: Floats) -> Floats:
    """``Σ_i |[start_i, end_i) ∩ (-inf, x)|`` at each ``x`` (all relative to one origin)."""
    s, e = np.sort(start), np.sort(end)
    cs = np.concatenate(([0.0], np.cumsum(s)))
    ce = np.concatenate(([0.0], np.cumsum(e)))
    ns = np.searchsorted(s, x, side="left")
    ne = np.searchsorted(e, x, side="left")
    return np.asarray((ns * x - cs[ns]) - (ne * x - ce[ne]), dtype=np.float64)


def _covering(start: Floats, end: Floats, t: Floats) -> Counts:
    """How many of the intervals ``[start, end)`` contain each ``t``."""
    inside = np.searchsorted(np.sort(start), t, side="right")
    left = np.searchsorted(np.sort(end), t, side="right")
    return (inside - left).astype(np.int64)


def _by_group(fleet: Fleet, by: Grouping) -> Iterator[tuple[str, int, npt.NDArray[np.intp]]]:
    """Each group's label, bay count and segment indices."""
    labels, index = group_index(fleet.bays, by)
    seg_group = index[fleet.bay]
    order = np.argsort(seg_group, kind="stable")
    bounds = np.searchsorted(seg_group[order], np.arange(len(labels) + 1))
    sizes = np.bincount(index, minlength=len(labels))
    for g, label in enumerate(labels):
        yield label, int(sizes[g]), order[bounds[g] : bounds[g + 1]]


def occupancy_slots(
    fleet: Fleet, t0: float, t1: float, *, by: Grouping, slot_s: float = 900.0
) -> dict[str, SlotOccupancy]:
    """Occupied and observed bay-seconds per slot of ``[t0, t1)``, per group."""
    n = max(1, math.ceil((t1 - t0) / slot_s))
    edges = np.minimum(slot_s * np.arange(n + 1), t1 - t0)
    out = {}
    for label, bays, seg in _by_group(fleet, by):
        start, end, code = fleet.start[seg] - t0, fleet.end[seg] - t0, fleet.code[seg]
        occ, seen = code == OCCUPIED, code != UNKNOWN
        out[label] = SlotOccupancy(
            t0,
            slot_s,
            bays,
            np.diff(_integral(start[occ], end[occ], edges)),
            np.diff(_integral(start[seen], end[seen], edges)),
        )
    return out


def counts_at(
    fleet: Fleet, times: Sequence[float] | Floats, *, by: Grouping
) -> dict[str, InstantCounts]:
    """Bays free, occupied and unknown (including never observed) at each instant, per group."""
    t = np.asarray(times, dtype=np.float64)
    out = {}
    for label, bays, seg in _by_group(fleet, by):
        start, end, code = fleet.start[seg], fleet.end[seg], fleet.code[seg]
        occupied = _covering(start[code == OCCUPIED], end[code == OCCUPIED], t)
        free = _covering(start[code == FREE], end[code == FREE], t)
        out[label] = InstantCounts(free, occupied, bays - free - occupied)
    return out
