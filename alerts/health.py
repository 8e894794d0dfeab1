"""``low_battery``, ``data_gap`` and ``quarantine_rate``: the device-health rules beside
``device_offline`` (``alerts.evaluators``), judged by ``alerts.device_checks``.

What it holds in memory, per registered device: its latest battery reading, the device times
of its readings over the longest ``data_gap`` window, the arrival times of its readings and of
its quarantined messages over the longest ``quarantine_rate`` window. A committed change costs
one primary-key range query over the devices it names; a tick costs one range of
``quarantine_received_idx`` over what was quarantined since the previous tick (plus two minutes
of overlap, for batches that committed late), never a scan of the readings.

Backfill-aware, as ``devices.health``: completeness is judged by device time from whatever has
arrived, so a backlog sent after an outage fills the hole it left. A device that is silent is
``device_offline``'s, not a data gap; one whose backlog is draining (its newest reading is old)
or that came back from a silence less than ``settle_minutes`` ago is not judged yet.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.device_checks import (
    BatteryParams,
    GapParams,
    QuarantineParams,
    battery_low,
    completeness,
    device_types,
    quarantine_high,
)
from alerts.evaluators import Observation, applicable
from alerts.lifecycle import Condition
from alerts.matching import Place
from alerts.messages import (
    data_gap_text,
    device_name,
    low_battery_text,
    quarantine_text,
)
from devices.model import DeviceType
from storage.alerts import Rule, active_alerts
from storage.connection import Conn
from storage.feed import STATUS_CHANGES, Change
from storage.health import (
    Arrival,
    Liveness,
    arrivals,
    last_refusal_id,
    liveness,
    refusals_since,
)

KINDS = ("low_battery", "data_gap", "quarantine_rate")
REFUSAL_OVERLAP = timedelta(minutes=2)
"""Quarantine rows are read again this far back, as well as by id after the last one read: ids
are taken at insert, so a concurrent batch may commit a smaller id a little later. Rows already
counted are recognised by id."""


@dataclass(slots=True)
class _Device:
    type_name: str
    interval_s: float
    place: Place
    heard: float | None = None
    """When a reading of it last committed (or arrived, at start)."""
    last_ts: float | None = None
    back_at: float | None = None
    """When it was heard again after a silence."""
    battery: float | None = None
    battery_ts: float | None = None
    times: list[float] = field(default_factory=list)
    """Device times of its readings, sorted, with at most one before the kept history."""
    accepted: list[float] = field(default_factory=list)
    """Arrival times of its stored readings."""
    refused: list[tuple[float, int]] = field(default_factory=list)
    """Arrival times and ids of its quarantined messages."""

    @property
    def late_s(self) -> float:
        return 2.0 * self.interval_s + 60.0  # as device_offline and devices.health


def _rules(rules: Sequence[Rule], kind: str, device: _Device) -> list[Rule]:
    out = []
    for rule in applicable(rules, kind, device.place.zones):
        types = device_types(rule.params)
        if types is None or device.type_name in types:
            out.append(rule)
    return out


class DeviceChecks:
    """The evaluator of ``low_battery``, ``data_gap`` and ``quarantine_rate`` rules."""

    kinds: tuple[str, ...] = KINDS

    def __init__(self, types: Mapping[str, DeviceType]) -> None:
        self._types = types
        self._devices: dict[str, _Device] = {}
        self._low: set[tuple[str, str]] = set()
        """(rule, device) whose battery is low, until it rises above threshold + margin."""
        self._gapped: set[str] = set()
        """Devices with a data gap under some rule: judged again each tick, so they clear."""
        self._refusing: set[str] = set()
        """Devices with quarantined messages in the window."""
        self._counted: set[int] = set()
        self._refusals_read: datetime | None = None
        self._last_refusal = 0
        self._loaded: tuple[frozenset[str], float, float] | None = None
        """What the history was loaded for: enabled kinds, gap and quarantine windows."""

    def wants(self, change: Change) -> bool:
        return change.device_type != STATUS_CHANGES and change.device_type in self._types

    async def catch_up(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        self._devices, self._gapped, self._refusing, self._counted = {}, set(), set(), set()
        self._loaded = _needs(rules)
        kinds, gap_s, refusal_s = self._loaded
        if not kinds:
            return []
        for live in await liveness(conn, None):
            self._learn(live)
        keep = max(gap_s, refusal_s)
        for device_type in self._types.values() if keep else ():
            start = now - timedelta(seconds=keep + 2 * device_type.expected_interval_s)
            for row in await arrivals(conn, device_type, start=start):
                self._add(row, now)
        self._refusals_read = None
        ids = {r.rule_id for r in rules if r.kind == "low_battery"}
        self._low = {(a.rule_id, a.subject) for a in await active_alerts(conn) if a.rule_id in ids}
        out = self._judge(self._devices, rules, now)
        return out + await self._quarantine(conn, rules, now)

    async def on_change(
        self, conn: Conn, change: Change, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        needs = _needs(rules)
        if needs != self._loaded:
            return await self.catch_up(conn, rules, now)
        kinds, gap_s, refusal_s = needs
        if not kinds:
            return []
        unknown = [d for d in change.device_ids if d not in self._devices]
        if unknown:
            for live in await liveness(conn, unknown):
                self._learn(live)
        device_type = self._types[change.device_type]
        t = now.timestamp()
        for device_id in change.device_ids:
            device = self._devices.get(device_id)
            if device is None:
                continue
            if device.heard is None or t - device.heard > device.late_s:
                device.back_at = t
            device.heard = t
        # A change that reaches into the kept history is read from where the history starts
        # (at least an hour, for the newest battery): one device's backfill must not make the
        # others' whole past be read. An older change is read whole (one ingest batch at most).
        clip = now - timedelta(seconds=max(gap_s, refusal_s, 3600.0))
        rows = await arrivals(
            conn,
            device_type,
            start=max(change.first_ts, clip) if change.last_ts >= clip else change.first_ts,
            end=change.last_ts + timedelta(microseconds=1),
            device_ids=change.device_ids,
        )
        for row in rows:
            self._add(row, now)
        return self._judge(change.device_ids, rules, now)

    async def on_tick(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        if _needs(rules) != self._loaded:
            return await self.catch_up(conn, rules, now)
        out = self._judge(sorted(self._gapped), rules, now, batteries=False)
        return out + await self._quarantine(conn, rules, now)

    def _learn(self, row: Liveness) -> None:
        device_type = self._types.get(row.device_type)
        if device_type is None:
            return
        device = self._devices.get(row.device_id)
        place = Place(row.zones, row.lon, row.lat)
        if device is None:
            device = self._devices[row.device_id] = _Device(
                row.device_type, float(device_type.expected_interval_s), place
            )
        device.place = place
        if row.last_received_at is not None:
            device.heard = max(device.heard or 0.0, row.last_received_at.timestamp())
        if row.last_ts is not None:
            device.last_ts = max(device.last_ts or 0.0, row.last_ts.timestamp())
        if row.battery_pct is not None and device.battery is None:
            device.battery = row.battery_pct
            device.battery_ts = device.last_ts

    def _add(self, row: Arrival, now: datetime) -> None:
        device = self._devices.get(row.device_id)
        if device is None:
            return
        t = row.ts.timestamp()
        times = device.times
        i = bisect_left(times, t)
        if i < len(times) and times[i] == t:
            return  # seen already (a range query overlaps earlier ones)
        times.insert(i, t)
        device.accepted.append(row.received_at.timestamp())
        device.last_ts = max(device.last_ts or t, t)
        if row.battery_pct is not None and (device.battery_ts is None or t >= device.battery_ts):
            device.battery, device.battery_ts = row.battery_pct, t
        self._prune(device, now)

    def _prune(self, device: _Device, now: datetime) -> None:
        assert self._loaded is not None
        _, gap_s, refusal_s = self._loaded
        cut = now.timestamp() - gap_s - device.interval_s
        keep_from = max(0, bisect_left(device.times, cut) - 1)  # and one reading before it
        if keep_from:
            del device.times[:keep_from]
        arrived = now.timestamp() - refusal_s
        if device.accepted and device.accepted[0] < arrived:
            device.accepted = [a for a in device.accepted if a >= arrived]
        if device.refused and device.refused[0][0] < arrived:
            gone = [i for at, i in device.refused if at < arrived]
            self._counted.difference_update(gone)
            device.refused = [(at, i) for at, i in device.refused if at >= arrived]

    def _judge(
        self,
        devices: Iterable[str],
        rules: Sequence[Rule],
        now: datetime,
        *,
        batteries: bool = True,
    ) -> list[Observation]:
        out: list[Observation] = []
        for device_id in devices:
            device = self._devices.get(device_id)
            if device is None:
                continue
            if batteries:
                out.extend(self._battery(device_id, device, rules))
            out.extend(self._gap(device_id, device, rules, now))
        return out

    def _battery(self, device_id: str, device: _Device, rules: Sequence[Rule]) -> list[Observation]:
        if device.battery is None:
            return []  # no battery field, or never reported one: nothing to judge
        out = []
        for rule in _rules(rules, "low_battery", device):
            params = BatteryParams.of(rule.params)
            key = (rule.rule_id, device_id)
            low = battery_low(device.battery, was_low=key in self._low, params=params)
            condition = None
            if low:
                self._low.add(key)
                critical = device.battery < params.critical_pct
                pct = math.floor(device.battery)
                condition = Condition(
                    "battery_critical" if critical else "battery_low",
                    float(pct),
                    low_battery_text(
                        device_name(device_id, device.type_name),
                        pct,
                        below=params.below_pct,
                        critical=critical,
                    ),
                    device.place.zones[0] if device.place.zones else None,
                )
            else:
                self._low.discard(key)
            out.append(Observation(rule, device_id, condition, device.place))
        return out

    def _gap(
        self, device_id: str, device: _Device, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        t = now.timestamp()
        if device.heard is None or t - device.heard > device.late_s:
            return []  # silent: device_offline's to say
        if device.last_ts is not None and device.heard - device.last_ts > device.late_s:
            return []  # a backlog is draining: the holes may yet fill
        out, gapped = [], False
        for rule in _rules(rules, "data_gap", device):
            params = GapParams.of(rule.params)
            if device.back_at is not None and t - device.back_at < params.settle_minutes * 60:
                continue
            share = completeness(
                device.times,
                start=t - params.window_s,
                interval=device.interval_s,
                min_span=params.window_s / 2,
            )
            if share is None:
                continue
            condition = None
            if share * 100.0 < params.min_completeness_pct:
                gapped = True
                pct = math.floor(share * 100.0)
                condition = Condition(
                    "data_gap",
                    float(pct),
                    data_gap_text(
                        device_name(device_id, device.type_name),
                        pct,
                        window_s=params.window_s,
                        interval_s=device.interval_s,
                    ),
                    device.place.zones[0] if device.place.zones else None,
                )
            out.append(Observation(rule, device_id, condition, device.place))
        if gapped:
            self._gapped.add(device_id)
        else:
            self._gapped.discard(device_id)
        return out

    async def _quarantine(
        self, conn: Conn, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        assert self._loaded is not None
        kinds, _, window_s = self._loaded
        if "quarantine_rate" not in kinds:
            return []
        since = (
            now - timedelta(seconds=window_s)
            if self._refusals_read is None
            else self._refusals_read - REFUSAL_OVERLAP
        )
        if self._refusals_read is None:
            self._last_refusal = await last_refusal_id(conn)
            after = None
        else:
            after = self._last_refusal
        self._refusals_read = now
        for refusal in await refusals_since(conn, since, after):
            self._last_refusal = max(self._last_refusal, refusal.id)
            device = self._devices.get(refusal.device_id)
            if device is None or refusal.id in self._counted:
                continue
            self._counted.add(refusal.id)
            device.refused.append((refusal.received_at.timestamp(), refusal.id))
            self._refusing.add(refusal.device_id)
        out: list[Observation] = []
        t = now.timestamp()
        for device_id in sorted(self._refusing):
            device = self._devices[device_id]
            self._prune(device, now)
            if not device.refused:
                self._refusing.discard(device_id)  # judged once more below: it clears
            for rule in _rules(rules, "quarantine_rate", device):
                params = QuarantineParams.of(rule.params)
                since_t = t - params.window_minutes * 60
                refused = sum(1 for at, _ in device.refused if at >= since_t)
                accepted = sum(1 for at in device.accepted if at >= since_t)
                condition = None
                if quarantine_high(refused, accepted, params):
                    total = refused + accepted
                    condition = Condition(
                        "quarantine",
                        float(math.floor(100 * refused / total)),
                        quarantine_text(
                            device_name(device_id, device.type_name),
                            device_id,
                            refused,
                            total,
                            window_s=params.window_minutes * 60,
                        ),
                        device.place.zones[0] if device.place.zones else None,
                    )
                out.append(Observation(rule, device_id, condition, device.place))
        return out


def _needs(rules: Sequence[Rule]) -> tuple[frozenset[str], float, float]:
    """The enabled kinds of this evaluator, and the history they need (seconds)."""
    mine = [r for r in rules if r.enabled and r.kind in KINDS]
    gap = [GapParams.of(r.params).window_s for r in mine if r.kind == "data_gap"]
    refusal = [
        QuarantineParams.of(r.params).window_minutes * 60
        for r in mine
        if r.kind == "quarantine_rate"
    ]
    return frozenset(r.kind for r in mine), max(gap, default=0.0), max(refusal, default=0.0)
