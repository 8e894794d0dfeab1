"""A bay's status over time from its stored series, vectorised; and the parking sessions in it.

The rules are :mod:`analytics.parking.state`'s, applied with hindsight: a run of readings is
confirmed if it lasted ``debounce_s`` before the next change (or until ``until``), and then
counts from its start. The status at ``until`` therefore equals :func:`~analytics.parking.state.bay_state`
at ``until`` (the tests check it), while earlier stretches may differ from what a live view showed
in the debounce window before a change was confirmed.

A *session* is a stretch of ``occupied``. Its arrival is *seen* when ``free`` comes just before it
and its departure when ``free`` comes just after; a session that begins with the series or after
an ``unknown`` stretch, or ends in one or at ``until``, is censored at that end (domain.md §6.10).

This is the heavy path (a month of readings for 5,000 bays), so it is numpy throughout: about
twenty array operations per bay, no Python loop over readings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.parking.bays import BayInfo
from analytics.parking.state import NEVER_SEEN, BayState, StateConfig, Status

Floats = npt.NDArray[np.float64]
Codes = npt.NDArray[np.int8]
Indices = npt.NDArray[np.intp]
Flags = npt.NDArray[np.bool_]

FREE, OCCUPIED, UNKNOWN = 0, 1, 2
"""Status codes in arrays; :data:`STATUS_OF_CODE` maps them back."""
STATUS_OF_CODE = (Status.FREE, Status.OCCUPIED, Status.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Timeline:
    """Contiguous segments ``[start, end)`` from the first reading to ``until``, each with one
    status code; neighbours differ. Time before the first reading was not observed."""

    start: Floats
    end: Floats
    code: Codes
    final: BayState
    """The state at ``until``."""

    def status_at(self, t: float) -> Status | None:
        """The status at ``t``; ``None`` outside the segments."""
        i = int(np.searchsorted(self.start, t, side="right")) - 1
        if i < 0 or t >= self.end[i]:
            return None
        return STATUS_OF_CODE[int(self.code[i])]


def _empty(final: BayState) -> Timeline:
    return Timeline(np.empty(0), np.empty(0), np.empty(0, np.int8), final)


def bay_timeline(
    ts: npt.ArrayLike,
    occupied: npt.ArrayLike,
    *,
    until: float,
    config: StateConfig | None = None,
) -> Timeline:
    """The timeline of one bay from its readings (device times in any order), as known at
    ``until``; readings after ``until`` are left out."""
    config = config or StateConfig()
    timeout = config.timeout_s
    t = np.asarray(ts, dtype=np.float64).ravel()
    v = np.asarray(occupied, dtype=np.bool_).ravel()
    keep = t <= until
    t, v = t[keep], v[keep]
    if t.size == 0:
        return _empty(NEVER_SEEN)
    order = np.lexsort((v, t))
    t, v = t[order], v[order]
    distinct = np.ones(t.size, np.bool_)
    distinct[1:] = (t[1:] != t[:-1]) | (v[1:] != v[:-1])
    t, v = t[distinct], v[distinct]
    n = t.size

    # Epochs: stretches of contact, split where the sensor was silent longer than the timeout.
    reset = np.ones(n, np.bool_)
    reset[1:] = np.diff(t) > timeout
    epoch = np.cumsum(reset) - 1
    first = np.flatnonzero(reset)
    last = np.append(first[1:] - 1, n - 1)
    begin = t[
        first
    ].copy()  # where the unknown stretch before each epoch's first confirmation starts
    begin[1:] = t[last[:-1]] + timeout
    ends = t[last] + timeout
    ends[-1] = min(ends[-1], until)

    # Runs of one raw value, and which of them lasted the debounce window.
    run_first = reset.copy()
    run_first[1:] |= v[1:] != v[:-1]
    ri = np.flatnonzero(run_first)
    rs, rv, re = t[ri], v[ri], epoch[ri]
    same = np.append(re[1:] == re[:-1], False)
    run_end = np.where(same, np.append(rs[1:], 0.0), ends[re])
    length = run_end - rs
    stable = (length >= config.debounce_s) & (length > 0.0)

    # Confirmed runs set the status from their start; repeats of one value merge.
    ss, sv, se = rs[stable], rv[stable], re[stable]
    new = np.ones(ss.size, np.bool_)
    new[1:] = (sv[1:] != sv[:-1]) | (se[1:] != se[:-1])
    ks, kv, ke = ss[new], sv[new], se[new]
    k_same = np.append(ke[1:] == ke[:-1], False)
    k_end = np.where(k_same, np.append(ks[1:], 0.0), ends[ke])

    # Unknown from each epoch's begin (the gap before it) until its first confirmation.
    u_end = ends.copy()
    with_known, first_known = np.unique(ke, return_index=True)
    u_end[with_known] = ks[first_known]
    starts = [ks, begin]
    stops = [k_end, u_end]
    codes = [kv.astype(np.int8), np.full(begin.size, UNKNOWN, np.int8)]
    if until > ends[-1]:
        starts.append(np.array([ends[-1]]))
        stops.append(np.array([until]))
        codes.append(np.array([UNKNOWN], np.int8))
    start, end, code = np.concatenate(starts), np.concatenate(stops), np.concatenate(codes)
    nonempty = end > start
    start, end, code = start[nonempty], end[nonempty], code[nonempty]
    order = np.argsort(start, kind="stable")
    start, end, code = start[order], end[order], code[order]
    head = np.ones(code.size, np.bool_)
    head[1:] = code[1:] != code[:-1]
    start, code = start[head], code[head]
    end = np.append(start[1:], end[-1]) if end.size else end

    seen = float(t[-1])
    if until - seen > timeout:
        final = BayState(Status.UNKNOWN, seen + timeout, seen)
    elif code.size:
        final = BayState(STATUS_OF_CODE[int(code[-1])], float(start[-1]), seen)
    else:  # one reading, at ``until``: nothing confirmed yet
        final = BayState(Status.UNKNOWN, float(begin[-1]), seen)
    return Timeline(start, end, code, final)


@dataclass(frozen=True, slots=True)
class Fleet:
    """The timelines of many bays as flat arrays: segment ``i`` belongs to ``bays[bay[i]]``.
    Segments are grouped by bay, in time order within each."""

    bays: tuple[BayInfo, ...]
    bay: Indices
    start: Floats
    end: Floats
    code: Codes

    @classmethod
    def of(cls, bays: Sequence[BayInfo], timelines: Mapping[str, Timeline]) -> Fleet:
        """Bays without a timeline have no segments: unobserved, counted as ``unknown``."""
        found = [
            (i, timelines[b.device_id]) for i, b in enumerate(bays) if b.device_id in timelines
        ]
        if not found:
            return cls(
                tuple(bays), np.empty(0, np.intp), np.empty(0), np.empty(0), np.empty(0, np.int8)
            )
        return cls(
            tuple(bays),
            np.concatenate([np.full(tl.code.size, i, np.intp) for i, tl in found]),
            np.concatenate([tl.start for _, tl in found]),
            np.concatenate([tl.end for _, tl in found]),
            np.concatenate([tl.code for _, tl in found]),
        )


@dataclass(frozen=True, slots=True)
class Sessions:
    """Stretches of ``occupied`` in a :class:`Fleet`, in the fleet's order."""

    bay: Indices
    start: Floats
    end: Floats
    arrival_seen: Flags
    departure_seen: Flags


def sessions(fleet: Fleet) -> Sessions:
    """Every ``occupied`` segment, with whether free time was seen on either side of it."""
    code, bay = fleet.code, fleet.bay
    occ = np.flatnonzero(code == OCCUPIED)
    prev, nxt = occ - 1, occ + 1
    arrival = (prev >= 0) & (bay[np.maximum(prev, 0)] == bay[occ])
    arrival &= code[np.maximum(prev, 0)] == FREE
    inside = nxt < code.size
    nxt_c = np.minimum(nxt, max(code.size - 1, 0))
    departure = inside & (bay[nxt_c] == bay[occ]) & (code[nxt_c] == FREE)
    return Sessions(bay[occ], fleet.start[occ], fleet.end[occ], arrival, departure)
