"""A bay's live state from its sensor readings: debounced, ordered by device time, and
``unknown`` when the sensor goes quiet.

Sources: domain.md §5.1 (platform rules [D]: ``unknown`` after 2 x heartbeat + tolerance without an
uplink; debounce flips shorter than about 60 s; order by device time, not arrival) and §6.10.

Time is POSIX seconds as ``float`` (UTC) everywhere in this package; local time appears only
where controlled hours and weekday profiles need it (:mod:`analytics.parking.controlled`,
:mod:`analytics.parking.forecast`).

The rules, which :func:`bay_state`, :class:`BayTracker` and :func:`~analytics.parking.timeline.bay_timeline`
all follow:

* **Order.** Readings are ordered by ``(ts, occupied)`` (``False`` first on a tie, so that any
  arrival order gives one order); repeats of the same pair are one reading. Heartbeats are
  readings like any other: they carry ``occupied`` and prove the sensor is alive.
* **Runs.** The raw signal is the value of the latest reading. A *run* is a stretch of one raw
  value; it ends at the first reading with the other value, when the bay goes ``unknown``, or now.
* **Debounce.** A run is *confirmed* once it has lasted ``debounce_s`` (and more than no time at
  all). Only confirmed runs change the state, and a change is back-dated to the start of its run,
  so a session starts when the car arrived, not a minute later. A shorter run is ignored whichever
  way it flips: occupied→free→occupied flicker does not end a session, and a car pausing for
  seconds does not start one. Live, a real change therefore shows ``debounce_s`` late.
* **Unknown.** A bay is ``unknown`` from ``timeout_s`` (2 x heartbeat + tolerance) after its last
  reading until a reading arrives (strictly: more than ``timeout_s`` without an uplink). Nothing
  carries over such a gap: after it the bay stays ``unknown`` until a value has been confirmed
  again, so a session never spans a stretch nobody observed. A bay never heard from is ``unknown``.
* **Since.** :attr:`BayState.since` is when the current status began: the (back-dated) arrival
  for ``occupied``. After a gap that is when the bay was seen again, a lower bound on the arrival.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from devices.types.parking_bay import PARKING_BAY


class Status(StrEnum):
    """A bay's status; the values are the FIWARE ``ParkingSpot.status`` words (domain.md §5.3)."""

    FREE = "free"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StateConfig:
    """How readings become a state. Defaults: domain.md §5.1 and ``parking_bay``'s heartbeat."""

    debounce_s: float = 60.0
    heartbeat_s: float = float(PARKING_BAY.expected_interval_s)
    tolerance_s: float = 600.0
    """Slack on top of two heartbeats: LoRaWAN retries, gateway queues, clock drift."""
    horizon_s: float = 86_400.0
    """:class:`BayTracker` only: how far behind its newest reading a late one is still applied."""

    def __post_init__(self) -> None:
        if not (self.debounce_s >= 0 and self.heartbeat_s > 0 and self.tolerance_s >= 0):
            raise ValueError("debounce_s and tolerance_s must be >= 0 and heartbeat_s > 0")
        if self.debounce_s >= self.timeout_s:
            # Then a run cut short by silence could be unconfirmed, and silence would hide a change.
            raise ValueError("debounce_s must be shorter than the unknown timeout")
        if not self.horizon_s >= 0:
            raise ValueError("horizon_s must be >= 0")

    @property
    def timeout_s(self) -> float:
        """Silence after which a bay is ``unknown``."""
        return 2.0 * self.heartbeat_s + self.tolerance_s


@dataclass(frozen=True, slots=True)
class Reading:
    """One uplink of a bay sensor (a change or a heartbeat): device time and what it saw."""

    ts: float
    occupied: bool


@dataclass(frozen=True, slots=True)
class BayState:
    status: Status
    since: float | None
    """When this status began; ``None`` only for a bay never heard from."""
    last_seen: float | None
    """Device time of the newest reading."""


NEVER_SEEN = BayState(Status.UNKNOWN, None, None)


@dataclass(slots=True)
class _Machine:
    """The rules above over readings fed in order; what the state at any later instant needs."""

    debounce_s: float
    timeout_s: float
    last_ts: float | None = None
    value: bool = False
    run_start: float = 0.0
    confirmed: bool | None = None
    """The value of the latest confirmed run before the current one, in this stretch of contact."""
    confirmed_since: float = 0.0
    unknown_since: float = 0.0

    def stable(self, duration: float) -> bool:
        return duration >= self.debounce_s and duration > 0.0

    def step(self, ts: float, occupied: bool) -> None:
        last = self.last_ts
        if last is None or ts - last > self.timeout_s:
            self.unknown_since = ts if last is None else last + self.timeout_s
            self.confirmed = None
            self.value, self.run_start = occupied, ts
        elif occupied != self.value:
            if self.stable(ts - self.run_start) and self.confirmed != self.value:
                self.confirmed, self.confirmed_since = self.value, self.run_start
            self.value, self.run_start = occupied, ts
        self.last_ts = ts if last is None else max(last, ts)

    def at(self, now: float) -> BayState:
        last = self.last_ts
        if last is None:
            return NEVER_SEEN
        now = max(now, last)
        if now - last > self.timeout_s:
            return BayState(Status.UNKNOWN, last + self.timeout_s, last)
        if self.stable(now - self.run_start):
            since = self.confirmed_since if self.confirmed == self.value else self.run_start
            return BayState(_status(self.value), since, last)
        if self.confirmed is None:
            return BayState(Status.UNKNOWN, self.unknown_since, last)
        return BayState(_status(self.confirmed), self.confirmed_since, last)

    def next_change(self, now: float) -> float | None:
        """The earliest instant after ``now`` at which the state may change with no new reading."""
        last = self.last_ts
        if last is None:
            return None
        now = max(now, last)
        expiry = last + self.timeout_s
        if now > expiry:
            return None
        # Unknown strictly after the timeout: the first float past it.
        candidates = [math.nextafter(expiry, math.inf)]
        if not self.stable(now - self.run_start):
            candidates.append(self.run_start + self.debounce_s)
        soonest = min(candidates)
        # Always later than now, so that a service waking at each instant cannot spin on one.
        return soonest if soonest > now else math.nextafter(now, math.inf)


def _status(occupied: bool) -> Status:
    return Status.OCCUPIED if occupied else Status.FREE


def _keys(readings: Iterable[Reading]) -> list[tuple[float, bool]]:
    return sorted({(float(r.ts), bool(r.occupied)) for r in readings})


def bay_state(
    readings: Iterable[Reading], now: float, *, config: StateConfig | None = None
) -> BayState:
    """The state at ``now`` from a bay's readings in any order (pure; the reference the tracker
    must agree with). A reading later than ``now`` (a device clock ahead) moves now up to it."""
    config = config or StateConfig()
    machine = _Machine(config.debounce_s, config.timeout_s)
    for ts, occupied in _keys(readings):
        machine.step(ts, occupied)
    return machine.at(now)


class BayTracker:
    """One bay's state, updated reading by reading as they arrive, in any order.

    Readings after the newest one cost O(1). A late one is inserted in order and the readings of
    the last ``horizon_s`` replayed, O(readings in the horizon). Readings older than that are
    folded into a summary; one arriving later still, before the summary, cannot be placed and
    is refused (:meth:`extend` counts it): rebuild the bay from its stored series instead.
    Apart from refused readings the state equals :func:`bay_state` over everything fed in.
    """

    __slots__ = ("_buffer", "_fold", "_fold_key", "_head", "_horizon_s")

    def __init__(self, *, config: StateConfig | None = None) -> None:
        config = config or StateConfig()
        self._horizon_s = config.horizon_s
        self._fold = _Machine(config.debounce_s, config.timeout_s)
        self._fold_key: tuple[float, bool] | None = None
        self._head = replace(self._fold)
        self._buffer: list[tuple[float, bool]] = []

    @property
    def newest(self) -> float | None:
        """Device time of the newest reading applied."""
        return self._head.last_ts

    def extend(self, readings: Iterable[Reading]) -> int:
        """Apply readings (any order, repeats ignored); return how many were refused as too late."""
        buffer, refused, replay = self._buffer, 0, False
        for key in _keys(readings):
            if self._fold_key is not None and key <= self._fold_key:
                refused += key < self._fold_key
            elif not buffer or key > buffer[-1]:
                buffer.append(key)
                if not replay:
                    self._head.step(*key)
            else:
                i = bisect_left(buffer, key)
                if buffer[i] != key:
                    buffer.insert(i, key)
                    replay = True
        if replay:
            self._head = replace(self._fold)
            for key in buffer:
                self._head.step(*key)
        self._trim()
        return refused

    def _trim(self) -> None:
        newest = self._head.last_ts
        if newest is None or math.isinf(self._horizon_s):
            return
        cut = bisect_left(self._buffer, (newest - self._horizon_s, False))
        if cut:
            for key in self._buffer[:cut]:
                self._fold.step(*key)
            self._fold_key = self._buffer[cut - 1]
            del self._buffer[:cut]

    def state(self, now: float) -> BayState:
        return self._head.at(now)

    def next_change(self, now: float) -> float | None:
        """When the state may next change on its own (a change confirmed, the heartbeat missed)."""
        return self._head.next_change(now)
