"""``bay_overstay``, and the live state of every bay: committed readings update it within a
second (``analytics.parking.LiveBays``), so availability per zone and street is current, and a
vehicle that stays beyond its bay's maximum stay plus grace (counting controlled hours only)
raises an alert when that moment comes: a timer set from the arrival, not a poll.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from alerts.evaluators import Observation, applicable
from alerts.lifecycle import Condition
from alerts.matching import Place
from analytics.parking import (
    Availability,
    BayInfo,
    LiveBays,
    Status,
    overstay,
    overstay_at,
)
from analytics.parking.feed import AHEAD, HISTORY, bay_series, observe_change
from devices.types import PARKING_BAY
from storage.alerts import Rule
from storage.connection import Conn
from storage.feed import Change
from storage.readings import readings
from storage.registry import list_devices, zones_of

DEFAULT_GRACE_MINUTES = 10.0


class Parking:
    kinds: tuple[str, ...] = ("bay_overstay",)

    def __init__(self) -> None:
        self.live: LiveBays | None = None
        self._info: dict[str, BayInfo] = {}
        self._places: dict[str, Place] = {}
        self._due: dict[str, float] = {}
        """Occupied bays with a maximum stay: when their vehicle will be overstaying."""

    def availability(self, by: str) -> dict[str, Availability]:
        """Free / occupied / unknown / closed per zone, street (or ``"all"``), as of now."""
        return {} if self.live is None else self.live.availability(by)  # type: ignore[arg-type]

    def wants(self, change: Change) -> bool:
        return change.device_type == PARKING_BAY.name

    async def catch_up(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        await self._load(conn, now)
        assert self.live is not None
        rows = await readings(
            conn,
            PARKING_BAY,
            start=now - HISTORY,
            end=now + AHEAD,
            fields=["occupied"],
            limit=10_000_000,
        )
        for device, series in bay_series(rows).items():
            if device in self._info:
                self.live.rebuild(device, series, now=now.timestamp())
        for device in self._info:
            self._schedule(device)
        return self._judge(self._info, rules, now)

    async def on_change(
        self, conn: Conn, change: Change, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        if self.live is None or any(d not in self._info for d in change.device_ids):
            await self._load(conn, now)
        assert self.live is not None
        await observe_change(conn, self.live, change, now)
        for device in change.device_ids:
            self._schedule(device)
        return self._judge(change.device_ids, rules, now)

    async def on_tick(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        if self.live is None:
            return []
        update = self.live.advance(now.timestamp())
        changed = {c.device_id for c in update.changes}
        for device in changed:
            self._schedule(device)
        due = {d for d, at in self._due.items() if at <= now.timestamp()}
        return self._judge(changed | due, rules, now)

    async def _load(self, conn: Conn, now: datetime) -> None:
        memberships = await zones_of(conn)
        bays = {}
        for d in await list_devices(conn, device_type=PARKING_BAY.name):
            try:
                bays[d.device_id] = BayInfo.from_attributes(d.device_id, d.attributes)
            except ValueError:
                continue  # unreadable hours: the registry refuses them, so only legacy rows
            self._places[d.device_id] = Place(
                tuple(memberships.get(d.device_id, ())), d.longitude, d.latitude
            )
        if self.live is None:
            self.live = LiveBays(bays.values(), now=now.timestamp())
        else:
            for device, info in bays.items():
                if device not in self._info:
                    self.live.add_bay(info, now=now.timestamp())
        self._info = bays

    def _schedule(self, device: str) -> None:
        info = self._info.get(device)
        if self.live is None or info is None:
            return
        state = self.live.state(device)
        at = (
            overstay_at(info, state.since)
            if state.status == Status.OCCUPIED
            and state.since is not None
            and info.max_stay_minutes is not None
            else None
        )
        if at is None:
            self._due.pop(device, None)
        else:
            self._due[device] = at

    def _judge(
        self, devices: Iterable[str], rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        out: list[Observation] = []
        if self.live is None:
            return out
        for device in devices:
            info, place = self._info.get(device), self._places.get(device)
            if info is None or place is None or info.max_stay_minutes is None:
                continue
            for rule in applicable(rules, "bay_overstay", place.zones):
                grace = 60.0 * float(rule.params.get("grace_minutes", DEFAULT_GRACE_MINUTES))
                state = self.live.state(device)
                since = state.since
                found = (
                    overstay(info, since, now.timestamp(), grace_s=grace)
                    if state.status == Status.OCCUPIED and since is not None
                    else None
                )
                condition = None
                if found is not None and since is not None:
                    arrived = datetime.fromtimestamp(since, UTC)
                    name = f"Bay {info.bay_id or device}" + (
                        f" on {info.street}" if info.street else ""
                    )
                    condition = Condition(
                        "overstay",
                        None,
                        f"{name} has been occupied since {arrived:%H:%M} UTC: more than its"
                        f" {info.max_stay_minutes}-minute maximum stay (plus"
                        f" {grace / 60:.0f} minutes' grace) within controlled hours.",
                        info.zone or (place.zones[0] if place.zones else None),
                    )
                out.append(Observation(rule, device, condition, place))
        return out
