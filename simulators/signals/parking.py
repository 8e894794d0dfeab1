"""Parking-bay occupancy: vehicles arriving and leaving, and what the bay sensor reports.

Arrivals are a Poisson process whose rate follows the time of day, the day of the week and the
bay's restriction, higher while controlled hours apply (shoppers at pay-and-display bays, vans at
loading bays) and in the evening at residents' bays. Dwell times are log-normal; where a maximum
stay applies most drivers keep to it and some overstay (about 15 %, cf. the 20 % seen in 2-hour
bays). The sensor reports on every change a few seconds late, sends a heartbeat with its battery
level, and now and then flickers (loses the vehicle for a few seconds). A model is sequential
but deterministic: the same seed and start give the same events however the run is windowed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from devices.hours import ControlledHours
from simulators.errors import ScenarioError
from simulators.model import Bay
from simulators.signals.calendar import ScalarClock
from simulators.signals.noise import device_random

_SLOT = 900.0
_YEAR = 365.2425 * 86_400.0
_BATTERY_EPOCH = 1_735_689_600.0  # 2025-01-01: batteries drain from their level then


def _bump(hour: float, centre: float, width: float) -> float:
    d = abs(hour - centre)
    d = min(d, 24.0 - d)
    return math.exp(-0.5 * (d / width) ** 2)


@dataclass(frozen=True, slots=True)
class Surge:
    """Extra demand (a match, a market) at a bay between ``start`` and ``end``."""

    start: float
    end: float
    demand_factor: float = 3.0
    dwell_minutes: float | None = None
    """Median stay of the surge's visitors; ``None`` keeps the bay's usual stays."""


@dataclass(frozen=True, slots=True)
class BayEvent:
    ts: int
    occupied: bool
    heartbeat: bool
    battery_pct: float | None = None


@dataclass(slots=True)
class BayModel:
    """The vehicles at one bay and its sensor's reports."""

    device_id: str
    bay: Bay
    seed: int
    clock: ScalarClock
    heartbeat_s: float = 1800.0
    surges: tuple[Surge, ...] = ()
    flicker_rate: float = 0.03
    _rng: random.Random = field(init=False)
    _sensor_rng: random.Random = field(init=False)
    _hours: ControlledHours = field(init=False)
    _changes: list[tuple[float, bool]] = field(init=False, default_factory=list)
    _cursor: float | None = field(init=False, default=None)
    _origin: float = field(init=False, default=-1.0)
    _budget: float = field(init=False, default=0.0)
    _occupied: bool = field(init=False, default=False)
    _last_ts: int = field(init=False, default=-1)
    _next_heartbeat: float = field(init=False, default=0.0)
    _battery0: float = field(init=False, default=95.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(device_random(self.seed, self.device_id, "parking"))
        # Detection delays come from their own stream, drawn as reports go out, so that the
        # vehicles' stream does not depend on how the run is windowed.
        self._sensor_rng = random.Random(device_random(self.seed, self.device_id, "sensor"))
        try:
            self._hours = ControlledHours.parse(self.bay.controlled_hours)
        except ValueError as error:
            raise ScenarioError("controlled_hours", str(error)) from None
        self._battery0 = self._rng.uniform(75.0, 100.0)

    # -- demand -------------------------------------------------------------------------

    def _controlled(self, t: float) -> bool:
        weekday, hour = self.clock.weekday_hour(t)
        return self._hours.active(weekday, hour)

    def arrival_rate(self, t: float) -> float:
        """Vehicles per hour that would take this bay if it were free at ``t``."""
        weekday, hour = self.clock.weekday_hour(t)
        controlled = self._hours.active(weekday, hour)
        weekend = weekday >= 5
        kind = self.bay.restriction
        if kind == "residents":
            rate = 0.12 + (0.5 if weekend else 1.3) * _bump(hour, 18.5, 1.6)
            rate += (0.5 if weekend else 0.15) * _bump(hour, 13.0, 2.5)
        elif kind == "disabled":
            rate = 0.05 + 0.45 * _bump(hour, 12.5, 3.0)
        elif controlled:
            base = 1.6 if kind == "loading" else 2.0
            rate = base * (0.55 + 0.6 * _bump(hour, 11.0, 2.0) + 0.5 * _bump(hour, 15.0, 2.0))
        else:
            rate = (
                0.06
                + 0.7 * _bump(hour, 20.0, 2.2)
                + (0.9 if weekend else 0.3) * _bump(hour, 13.5, 2.5)
            )
        for surge in self.surges:
            if surge.start <= t < surge.end:
                rate *= surge.demand_factor
        return rate

    def _dwell(self, t: float) -> float:
        """Seconds the vehicle arriving at ``t`` stays."""
        rng, bay = self._rng, self.bay
        for surge in self.surges:
            if surge.start <= t < surge.end and surge.dwell_minutes is not None:
                return 60.0 * surge.dwell_minutes * math.exp(rng.gauss(0.0, 0.25))
        weekday, hour = self.clock.weekday_hour(t)
        if bay.restriction == "residents" or (
            not self._hours.active(weekday, hour) and hour >= 18.0 and rng.random() < 0.25
        ):
            if hour >= 16.0 or hour < 5.0:  # home for the night: leave next morning
                leave = self.clock.next_local(
                    t, rng.uniform(7.0, 9.5) + (1.5 if weekday >= 4 else 0)
                )
                return max(600.0, leave - t)
            return 60.0 * 180.0 * math.exp(rng.gauss(0.0, 0.7))
        if not self._hours.active(weekday, hour):
            return 60.0 * 120.0 * math.exp(rng.gauss(0.0, 0.8))
        median = {"pay_and_display": 55.0, "disabled": 90.0, "loading": 14.0}[bay.restriction]
        limit = bay.max_stay_minutes
        overstay = {"pay_and_display": 0.15, "disabled": 0.08, "loading": 0.2}[bay.restriction]
        if limit is not None and rng.random() < overstay:
            return 60.0 * (limit + rng.expovariate(1.0 / 35.0))
        minutes = median * math.exp(rng.gauss(0.0, 0.7))
        if limit is not None and minutes > limit:
            minutes = limit * rng.uniform(0.6, 1.0)
        return 60.0 * max(2.0, minutes)

    # -- the vehicle timeline ---------------------------------------------------------------

    def _start(self, t0: float) -> None:
        self._origin = t0
        rate = self.arrival_rate(t0)
        mean_dwell = self._dwell(t0)
        p = rate * mean_dwell / 3600.0 / (1.0 + rate * mean_dwell / 3600.0)
        self._cursor = t0
        self._next_heartbeat = t0
        if self._rng.random() < p:
            self._occupied = True
            self._cursor = t0 + mean_dwell * self._rng.random()
            self._changes.append((self._cursor, False))
        self._budget = self._rng.expovariate(1.0)

    def _plan(self, until: float) -> None:
        """Plan vehicle sessions up to ``until`` (consuming the arrival hazard slot by slot)."""
        assert self._cursor is not None
        t = self._cursor
        while t < until:
            slot_end = (math.floor(t / _SLOT) + 1) * _SLOT
            rate = self.arrival_rate(t) / 3600.0
            need = self._budget / rate if rate > 0 else math.inf
            if t + need < slot_end:
                arrival = t + need
                stay = self._dwell(arrival)
                self._changes.append((arrival, True))
                if stay > 300.0 and self._rng.random() < self.flicker_rate:
                    lost = arrival + self._rng.uniform(20.0, 120.0)
                    self._changes.append((lost, False))
                    self._changes.append((lost + self._rng.uniform(3.0, 25.0), True))
                t = arrival + stay
                self._changes.append((t, False))
                self._budget = self._rng.expovariate(1.0)
            else:
                self._budget -= rate * (slot_end - t)
                t = slot_end
        self._cursor = t

    def events(self, t0: float, t1: float) -> list[BayEvent]:
        """Sensor reports with timestamps in [t0, t1), in order, strictly increasing seconds."""
        if self._cursor is None:
            self._start(t0)
            self._changes.insert(0, (t0, self._occupied))
        self._plan(t1)
        self._changes.sort(key=lambda c: c[0])
        out: list[BayEvent] = []
        while True:
            change = self._changes[0] if self._changes else None
            beat = self._next_heartbeat
            if change is not None and change[0] <= beat and change[0] < t1:
                self._changes.pop(0)
                self._occupied = change[1]
                delay = 0.0 if change[0] == self._origin else self._sensor_rng.uniform(2.0, 6.0)
                self._emit(out, change[0] + delay, heartbeat=False)
            elif beat < t1:
                self._next_heartbeat = beat + self.heartbeat_s
                self._emit(out, beat, heartbeat=True)
            else:
                return out

    def _emit(self, out: list[BayEvent], t: float, *, heartbeat: bool) -> None:
        ts = int(t)
        if ts <= self._last_ts:
            if heartbeat:
                return  # a change was just reported: the heartbeat adds nothing
            ts = self._last_ts + 1
        self._last_ts = ts
        battery = None
        if heartbeat:
            drained = 7.0 * (t - _BATTERY_EPOCH) / _YEAR
            battery = round(min(100.0, max(1.0, self._battery0 - drained)), 1)
        out.append(BayEvent(ts, self._occupied, heartbeat, battery))
