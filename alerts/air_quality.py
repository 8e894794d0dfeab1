"""``zone_daqi`` and ``sensor_flagged``: a zone's Daily Air Quality Index from its monitors'
recent readings, after quality control, and the monitors whose readings QC flags.

When a monitor's readings are committed, each zone it belongs to is evaluated again from the
last day of its monitors' readings (the PM running 24-hour mean needs that much): QC first
(``analytics.air_quality.clean_monitor``: out of range, stuck, spikes, drift against monitors of
the same site type), so that a stuck or faulty sensor is flagged instead of raising a pollution
alert; then each monitor's index and the zone's (the highest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from alerts.evaluators import Observation, applicable
from alerts.lifecycle import LEVELS, Condition
from alerts.matching import Place
from analytics.air_quality import (
    Monitor,
    ZoneDaqi,
    clean_monitor,
    daqi_level,
    monitor_daqi,
    reasons,
    utc_datetime64,
    zone_daqi,
)
from analytics.air_quality.pollutants import POLLUTANTS
from devices.types import AIR_QUALITY
from storage.alerts import Rule
from storage.connection import Conn
from storage.feed import Change
from storage.readings import Selection, readings
from storage.registry import list_devices, list_zones, zones_of

WINDOW = timedelta(hours=25)
FLAG_RECENT = timedelta(hours=2)
"""A monitor is flagged while QC flags any of its readings of the last two hours."""
_NAMES = {
    "no2": "nitrogen dioxide",
    "o3": "ozone",
    "so2": "sulphur dioxide",
    "pm25": "PM2.5",
    "pm10": "PM10",
}


@dataclass(frozen=True, slots=True)
class _MonitorInfo:
    zones: tuple[str, ...]
    site_type: str
    lon: float | None
    lat: float | None


class AirQuality:
    kinds: tuple[str, ...] = ("zone_daqi", "sensor_flagged")

    def __init__(self) -> None:
        self._monitors: dict[str, _MonitorInfo] = {}
        self._members: dict[str, list[str]] = {}
        self._zone_names: dict[str, str] = {}
        self._alerting: set[str] = set()
        """Zones whose last evaluation found a condition: re-evaluated on every tick."""
        self._hour: datetime | None = None

    def wants(self, change: Change) -> bool:
        return change.device_type == AIR_QUALITY.name

    async def catch_up(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        await self._load(conn)
        return await self._evaluate(conn, list(self._members), rules, now)

    async def on_change(
        self, conn: Conn, change: Change, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        if any(d not in self._monitors for d in change.device_ids):
            await self._load(conn)  # a monitor registered since: learn its zones
        zones = sorted({z for d in change.device_ids for z in self._monitors.get(d, _NONE).zones})
        return await self._evaluate(conn, zones, rules, now)

    async def on_tick(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        """Time changes an index too: a new hour completes (the indices use complete periods),
        and a zone whose monitors fall silent loses its index, which clears its alert."""
        hour = now.replace(minute=0, second=0, microsecond=0)
        if hour != self._hour:
            self._hour = hour
            return await self._evaluate(conn, list(self._members), rules, now)
        return await self._evaluate(conn, sorted(self._alerting), rules, now)

    async def _load(self, conn: Conn) -> None:
        memberships = await zones_of(conn)  # explicit and by geometry
        self._monitors = {
            d.device_id: _MonitorInfo(
                tuple(memberships.get(d.device_id, ())),
                str(d.attributes.get("site_type", "urban_background")),
                d.longitude,
                d.latitude,
            )
            for d in await list_devices(conn, device_type=AIR_QUALITY.name)
        }
        self._members = {}
        for device, info in self._monitors.items():
            for zone in info.zones:
                self._members.setdefault(zone, []).append(device)
        self._zone_names = {z.zone_id: z.name for z in await list_zones(conn)}

    async def _evaluate(
        self, conn: Conn, zones: Sequence[str], rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        out: list[Observation] = []
        flagged_done: set[str] = set()
        for zone in zones:
            daqi_rules = applicable(rules, "zone_daqi", (zone,))
            flag_rules = [r for r in rules if r.enabled and r.kind == "sensor_flagged"]
            if not daqi_rules and not flag_rules:
                continue
            monitors = await self._recent(conn, zone, now)
            cleaned = []
            for monitor in monitors:
                clean, flags = clean_monitor(monitor, neighbours=monitors)
                cleaned.append(clean)
                if monitor.monitor_id not in flagged_done:
                    flagged_done.add(monitor.monitor_id)
                    out.extend(self._flagged(monitor, flags, flag_rules, now))
            result = zone_daqi(zone, [monitor_daqi(m, at=now) for m in cleaned])
            for rule in daqi_rules:
                out.append(
                    Observation(rule, zone, self._condition(rule, zone, result), Place((zone,)))
                )
        return out

    def _condition(self, rule: Rule, zone: str, result: ZoneDaqi) -> Condition | None:
        index = result.index
        if index is None:
            return None
        level = daqi_level(index)
        name = level.band.name.lower()
        if LEVELS.get(name, 0) < LEVELS.get(str(rule.params.get("min_level", "moderate")), 1):
            return None
        pollutant, monitor = result.pollutant, result.monitor_id
        what = _NAMES.get(str(pollutant), str(pollutant)) if pollutant else "several pollutants"
        return Condition(
            name,
            float(index),
            f"Air pollution is {level.band.value} (index {index}) in"
            f" {self._zone_names.get(zone, zone)}, from {what} at monitor {monitor}.",
            zone,
            advice=f"Everyone: {level.advice.general}\nAt-risk groups (adults and children"
            f" with lung or heart problems, older people): {level.advice.at_risk}",
        )

    def _flagged(
        self, monitor: Monitor, flags: object, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        info = self._monitors.get(monitor.monitor_id)
        if info is None:
            return []
        matching = [r for r in rules if r.zone_id is None or r.zone_id in info.zones]
        if not matching:
            return []
        recent = monitor.timestamps >= np.datetime64((now - FLAG_RECENT).replace(tzinfo=None), "us")
        found: list[str] = []
        for name, column in dict(flags).items():  # type: ignore[call-overload]
            marks = np.asarray(column)[recent]
            flagged = {r for value in marks if value for r in reasons(int(value))}
            if flagged:
                found.append(
                    f"{_NAMES.get(str(name), str(name))}: {', '.join(sorted(flagged)).lower()}"
                )
        condition = (
            Condition(
                "flagged",
                None,
                f"Monitor {monitor.monitor_id} is reporting readings that fail quality checks"
                f" ({'; '.join(found)}); they are left out of the air quality index.",
                info.zones[0] if info.zones else None,
            )
            if found
            else None
        )
        place = Place(info.zones, info.lon, info.lat)
        return [Observation(rule, monitor.monitor_id, condition, place) for rule in matching]

    async def _recent(self, conn: Conn, zone: str, now: datetime) -> list[Monitor]:
        rows = await readings(
            conn,
            AIR_QUALITY,
            start=now - WINDOW,
            end=now + timedelta(minutes=10),
            selection=Selection(zone=zone),
            fields=list(POLLUTANTS),
            limit=1_000_000,
        )
        by_device: dict[str, list[tuple[datetime, dict[str, float]]]] = {}
        for row in rows:
            values: dict[str, float] = {p: _float(row.values.get(p)) for p in POLLUTANTS}
            by_device.setdefault(row.device_id, []).append((row.ts, values))
        monitors = []
        for device, series in by_device.items():
            info = self._monitors.get(device, _NONE)
            monitors.append(
                Monitor(
                    device,
                    utc_datetime64([ts for ts, _ in series]),
                    {p: np.array([v[p] for _, v in series], dtype=float) for p in POLLUTANTS},
                    interval_s=AIR_QUALITY.expected_interval_s,
                    site_type=info.site_type,
                    zones=info.zones,
                )
            )
        return monitors


_NONE = _MonitorInfo((), "urban_background", None, None)


def _float(value: float | bool | None) -> float:
    return float("nan") if value is None else float(value)
