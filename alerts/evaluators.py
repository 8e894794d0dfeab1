"""What the alert rules see: evaluators turn committed data (the change feed) and the passing of
time into conditions per subject. Each evaluator keeps the little state it needs in memory, so
a change costs work for the devices it names, not a scan of the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from alerts.lifecycle import Condition
from alerts.matching import Place
from devices.model import DeviceType
from storage.alerts import Rule
from storage.connection import Conn
from storage.feed import STATUS_CHANGES, Change
from storage.health import Liveness, liveness


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's view of one subject now (``condition`` ``None``: all is well)."""

    rule: Rule
    subject: str
    condition: Condition | None
    place: Place


class Evaluator(Protocol):
    """One family of rules."""

    kinds: tuple[str, ...]

    def wants(self, change: Change) -> bool:
        """Whether a change can alter what this evaluator sees."""
        ...

    async def catch_up(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        """Everything, once: at start, and after the feed was interrupted."""
        ...

    async def on_change(
        self, conn: Conn, change: Change, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]: ...

    async def on_tick(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        """Conditions that time alone brings (a missed heartbeat, a stay growing too long, an
        hour of data completing)."""
        ...


def applicable(rules: Sequence[Rule], kind: str, zones: Sequence[str]) -> list[Rule]:
    """The enabled rules of ``kind`` that apply to a subject in ``zones``."""
    return [
        r
        for r in rules
        if r.enabled and r.kind == kind and (r.zone_id is None or r.zone_id in zones)
    ]


class DeviceHealth:
    """``device_offline``: a device's will fired, or it missed its heartbeats.

    Liveness by arrival (as ``devices.health`` judges it): a device that sends a backlog after
    an outage is heard from, hence not offline. Every committed change refreshes the devices
    it names; the tick judges silence.
    """

    kinds: tuple[str, ...] = ("device_offline",)

    def __init__(self, types: dict[str, DeviceType], late_intervals: float = 2.0) -> None:
        self._types = types
        self._late_intervals = late_intervals
        self._heard: dict[str, datetime] = {}
        self._offline_at: dict[str, datetime] = {}
        self._interval: dict[str, timedelta] = {}
        self._place: dict[str, Place] = {}

    def wants(self, change: Change) -> bool:
        return True  # any reading or status is a sign of life (or death)

    async def catch_up(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        if not any(r.kind == "device_offline" and r.enabled for r in rules):
            return []
        for row in await liveness(conn, None):
            self._learn(row)
        return [o for device in self._interval for o in self._judge(device, rules, now)]

    async def on_change(
        self, conn: Conn, change: Change, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        unknown = [d for d in change.device_ids if d not in self._interval]
        if change.device_type == STATUS_CHANGES or unknown:
            for row in await liveness(conn, list(change.device_ids)):
                self._learn(row)
        if change.device_type != STATUS_CHANGES:
            for device in change.device_ids:
                self._heard[device] = now
        return [o for device in change.device_ids for o in self._judge(device, rules, now)]

    async def on_tick(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        return [o for device in self._interval for o in self._judge(device, rules, now)]

    def _learn(self, row: Liveness) -> None:
        device, type_name, heard = row.device_id, row.device_type, row.last_received_at
        online, status_at, zones, lon, lat = row.online, row.status_at, row.zones, row.lon, row.lat
        device_type = self._types.get(type_name)
        if device_type is None:
            return
        self._interval[device] = timedelta(seconds=device_type.expected_interval_s)
        self._place[device] = Place(zones, lon, lat)
        if heard is not None:
            self._heard[device] = max(heard, self._heard.get(device, heard))
        if online is False and status_at is not None:
            self._offline_at[device] = status_at
        else:
            self._offline_at.pop(device, None)

    def _judge(self, device: str, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        place = self._place.get(device)
        if place is None:
            return []
        matching = applicable(rules, "device_offline", place.zones)
        if not matching:
            return []
        heard = self._heard.get(device)
        offline_at = self._offline_at.get(device)
        condition: Condition | None = None
        if offline_at is not None and (heard is None or offline_at >= heard):
            condition = Condition(
                "offline",
                None,
                f"{device} went offline at {offline_at:%H:%M} UTC (its last will)",
                place.zones[0] if place.zones else None,
            )
        elif heard is not None:
            silent = now - heard
            late = self._interval[device] * self._late_intervals + timedelta(minutes=1)
            if silent > late:
                every = int(self._interval[device].total_seconds() // 60)
                # No growing number in the condition: a silence that goes on is the same alert,
                # not an update every tick.
                condition = Condition(
                    "offline",
                    None,
                    f"{device} has not been heard from since {heard:%Y-%m-%d %H:%M} UTC"
                    f" (it reports at least every {every} minutes)",
                    place.zones[0] if place.zones else None,
                )
        return [Observation(rule, device, condition, place) for rule in matching]
