"""The live state of every bay and the availability of every zone and street, kept current.

For a long-running service over thousands of bays: it feeds each committed reading as it comes
(in batches, late or out of order) to :meth:`LiveBays.observe`, and calls
:meth:`LiveBays.advance` with the wall clock (say once a second) so that changes nobody reports
happen too: a change confirmed after the debounce window, a bay gone ``unknown`` when its
heartbeat is missed. Both return the bays whose state changed; the counts per zone and street
are adjusted in place. A reading costs O(1) (O(log bays) to reschedule the bay's next timed
change), a late reading a replay of its bay's recent readings (:class:`~analytics.parking.state.BayTracker`),
an ``advance`` O(log bays) per timed change: nothing rescans the fleet.

Each bay's clock is ``max(now, its newest device time)``: a sensor whose clock runs ahead is
not held back, and its readings still count from their own time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from analytics.parking.availability import Availability, position
from analytics.parking.bays import ALL, BayInfo
from analytics.parking.state import BayState, BayTracker, Reading, StateConfig


@dataclass(frozen=True, slots=True)
class BayChange:
    device_id: str
    before: BayState
    after: BayState


@dataclass(frozen=True, slots=True)
class Update:
    """What one call changed."""

    changes: tuple[BayChange, ...] = ()
    """Bays whose status or ``since`` changed (not heartbeats that only refresh ``last_seen``)."""
    too_late: int = 0
    """Readings older than their bay's horizon, not applied: rebuild the bay (:meth:`LiveBays.rebuild`)."""
    unregistered: bool = False
    """The device is not a bay we know; nothing was done."""


@dataclass(slots=True)
class _Bay:
    info: BayInfo
    tracker: BayTracker
    state: BayState
    closed: bool = False
    wake: float | None = None
    rows: tuple[list[int], ...] = field(default_factory=tuple)


class LiveBays:
    """Live states and availability counts for a fleet of bays (one event loop's worth)."""

    def __init__(
        self, bays: Iterable[BayInfo], *, now: float, config: StateConfig | None = None
    ) -> None:
        self._config = config or StateConfig()
        self._bays: dict[str, _Bay] = {}
        self._zones: dict[str, list[int]] = {}
        self._streets: dict[str, list[int]] = {}
        self._all = [0, 0, 0, 0]
        self._queue: list[tuple[float, int, str]] = []
        self._tie = itertools.count()
        for bay in bays:
            self.add_bay(bay, now=now)

    def add_bay(self, bay: BayInfo, *, now: float) -> None:
        """Start tracking a bay (or replace its description, keeping its readings)."""
        entry = self._bays.get(bay.device_id)
        if entry is not None:
            self._count(entry, -1)
            entry.info = bay
        else:
            tracker = BayTracker(config=self._config)
            entry = _Bay(bay, tracker, tracker.state(now))
            self._bays[bay.device_id] = entry
        entry.rows = (
            self._zones.setdefault(bay.zone, [0, 0, 0, 0]),
            self._streets.setdefault(bay.street, [0, 0, 0, 0]),
            self._all,
        )
        self._count(entry, +1)

    def observe(self, device_id: str, readings: Iterable[Reading], *, now: float) -> Update:
        """Apply a bay's new readings (any order, repeats ignored)."""
        entry = self._bays.get(device_id)
        if entry is None:
            return Update(unregistered=True)
        too_late = entry.tracker.extend(readings)
        change = self._settle(device_id, entry, now)
        return Update(changes=(change,) if change else (), too_late=too_late)

    def rebuild(self, device_id: str, readings: Iterable[Reading], *, now: float) -> Update:
        """Replace a bay's history with its full stored series (after a refused late reading)."""
        entry = self._bays.get(device_id)
        if entry is None:
            return Update(unregistered=True)
        entry.tracker = BayTracker(config=self._config)
        entry.tracker.extend(readings)
        change = self._settle(device_id, entry, now)
        return Update(changes=(change,) if change else ())

    def set_closed(self, device_id: str, closed: bool) -> None:
        """Declare a bay closed (suspended) or open again; closed bays count as ``closed``."""
        entry = self._bays[device_id]
        if entry.closed != closed:
            self._count(entry, -1)
            entry.closed = closed
            self._count(entry, +1)

    def advance(self, now: float) -> Update:
        """Apply the changes due by ``now`` without new readings."""
        changes = []
        queue = self._queue
        while queue and queue[0][0] <= now:
            wake, _, device_id = heapq.heappop(queue)
            entry = self._bays.get(device_id)
            if entry is None or entry.wake != wake:
                continue  # rescheduled since: a stale entry
            entry.wake = None
            change = self._settle(device_id, entry, now)
            if change:
                changes.append(change)
        return Update(changes=tuple(changes))

    def state(self, device_id: str) -> BayState:
        """The bay's state as of the last call; ``KeyError`` for a bay not tracked."""
        return self._bays[device_id].state

    def states(self) -> Mapping[str, BayState]:
        return {device_id: entry.state for device_id, entry in self._bays.items()}

    def availability(self, by: Literal["zone", "street", "all"]) -> dict[str, Availability]:
        """Counts per ``"zone"``, ``"street"`` or ``"all"``, as of the last call."""
        rows = {"zone": self._zones, "street": self._streets, "all": {ALL: self._all}}[by]
        return {label: Availability(*row) for label, row in rows.items() if any(row)}

    def _settle(self, device_id: str, entry: _Bay, now: float) -> BayChange | None:
        before = entry.state
        after = entry.tracker.state(now)
        wake = entry.tracker.next_change(now)
        if wake != entry.wake:
            entry.wake = wake
            if wake is not None:
                heapq.heappush(self._queue, (wake, next(self._tie), device_id))
        self._count(entry, -1)
        entry.state = after
        self._count(entry, +1)
        # A heartbeat only moves ``last_seen``: not a change anyone needs to hear about.
        if (after.status, after.since) == (before.status, before.since):
            return None
        return BayChange(device_id, before, after)

    def _count(self, entry: _Bay, sign: int) -> None:
        column = position(entry.state.status, entry.closed)
        for row in entry.rows:
            row[column] += sign
