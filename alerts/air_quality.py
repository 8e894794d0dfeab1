"""``zone_daqi`` and ``sensor_flagged``: a zone's Daily Air Quality Index from its monitors'
recent readings, after quality control, and the monitors whose readings QC flags.

Per monitor, the evaluator keeps its last day of readings (the PM running 24-hour mean needs
that much), their QC (``analytics.air_quality.clean_monitor``: out of range, stuck, spikes), so
that a stuck or faulty sensor is flagged instead of raising a pollution alert, and its index.
When a monitor's readings are committed, only that monitor is read again and checked; its zones'
indices (the highest of their monitors') follow from what is kept. Each tick recomputes every
monitor's index at the new time (complete hours, running means: cheap, no database), so zones
whose monitors fall silent lose their index and clear.

QC runs without neighbours: its drift check needs ``drift_days`` (3) consecutive UTC days of
paired data, which a 25-hour window never holds, so comparing each monitor with its neighbours
could flag nothing here, and cost a zone of n monitors n² series checks on every reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from alerts.evaluators import Observation, applicable
from alerts.lifecycle import LEVELS, Condition
from alerts.matching import Place
from analytics.air_quality import (
    Monitor,
    MonitorDaqi,
    ZoneDaqi,
    clean_monitor,
    daqi_level,
    monitor_daqi,
    reasons,
    utc_datetime64,
    zone_daqi,
)
from analytics.air_quality.pollutants import POLLUTANTS, Pollutant
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


@dataclass(frozen=True, slots=True)
class _Checked:
    """A monitor's recent readings with their QC, as of its last refresh."""

    monitor: Monitor
    cleaned: Monitor
    flags: Mapping[Pollutant, npt.NDArray[np.uint8]]


class AirQuality:
    kinds: tuple[str, ...] = ("zone_daqi", "sensor_flagged")

    def __init__(self) -> None:
        self._monitors: dict[str, _MonitorInfo] = {}
        self._members: dict[str, list[str]] = {}
        self._zone_names: dict[str, str] = {}
        self._checked: dict[str, _Checked] = {}
        self._daqi: dict[str, MonitorDaqi] = {}
        self._flagged: set[str] = set()
        """Monitors with flagged readings in the last two hours: judged again every tick."""

    def wants(self, change: Change) -> bool:
        return change.device_type == AIR_QUALITY.name

    async def catch_up(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        await self._load(conn)
        self._checked, self._daqi, self._flagged = {}, {}, set()
        await self._refresh(conn, list(self._monitors), now)
        return self._judge(list(self._monitors), list(self._members), rules, now)

    async def on_change(
        self, conn: Conn, change: Change, rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        if any(d not in self._monitors for d in change.device_ids):
            await self._load(conn)  # a monitor registered since: learn its zones
        monitors = [d for d in change.device_ids if d in self._monitors]
        await self._refresh(conn, monitors, now)
        zones = sorted({z for d in monitors for z in self._monitors[d].zones})
        return self._judge(monitors, zones, rules, now)

    async def on_tick(self, conn: Conn, rules: Sequence[Rule], now: datetime) -> list[Observation]:
        """Time changes an index too: a new hour completes (the indices use complete periods),
        and a zone whose monitors fall silent loses its index, which clears its alert."""
        if not any(r.enabled and r.kind in self.kinds for r in rules):
            return []
        self._daqi = {m: monitor_daqi(c.cleaned, at=now) for m, c in self._checked.items()}
        return self._judge(sorted(self._flagged), list(self._members), rules, now)

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

    async def _refresh(self, conn: Conn, monitors: Sequence[str], now: datetime) -> None:
        """Read ``monitors``' last day again, check it and index it."""
        if not monitors:
            return
        found = {m.monitor_id: m for m in await self._recent(conn, monitors, now)}
        for device in monitors:
            monitor = found.get(device)
            if monitor is None:
                self._checked.pop(device, None)
                self._daqi.pop(device, None)
                continue
            cleaned, flags = clean_monitor(monitor)
            self._checked[device] = _Checked(monitor, cleaned, flags)
            self._daqi[device] = monitor_daqi(cleaned, at=now)

    def _judge(
        self, monitors: Sequence[str], zones: Sequence[str], rules: Sequence[Rule], now: datetime
    ) -> list[Observation]:
        """Observations of ``monitors``' flags and ``zones``' indices from what is kept."""
        out: list[Observation] = []
        flag_rules = [r for r in rules if r.enabled and r.kind == "sensor_flagged"]
        for device in monitors if flag_rules else ():
            checked = self._checked.get(device)
            if checked is not None:
                out.extend(self._flagged_now(checked.monitor, checked.flags, flag_rules, now))
            elif device in self._flagged:  # no readings left: nothing is flagged
                out.extend(self._flagged_now(_empty(device), {}, flag_rules, now))
        for zone in zones:
            daqi_rules = applicable(rules, "zone_daqi", (zone,))
            if not daqi_rules:
                continue
            members = self._members.get(zone, [])
            result = zone_daqi(zone, [self._daqi[m] for m in members if m in self._daqi])
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

    def _flagged_now(
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
        if found:
            self._flagged.add(monitor.monitor_id)
        else:
            self._flagged.discard(monitor.monitor_id)
        place = Place(info.zones, info.lon, info.lat)
        return [Observation(rule, monitor.monitor_id, condition, place) for rule in matching]

    async def _recent(self, conn: Conn, monitors: Sequence[str], now: datetime) -> list[Monitor]:
        rows = await readings(
            conn,
            AIR_QUALITY,
            start=now - WINDOW,
            end=now + timedelta(minutes=10),
            selection=Selection(device_ids=list(monitors)),
            fields=list(POLLUTANTS),
            limit=1_000_000,
        )
        by_device: dict[str, list[tuple[datetime, dict[str, float]]]] = {}
        for row in rows:
            values: dict[str, float] = {p: _float(row.values.get(p)) for p in POLLUTANTS}
            by_device.setdefault(row.device_id, []).append((row.ts, values))
        out = []
        for device, series in by_device.items():
            info = self._monitors.get(device, _NONE)
            out.append(
                Monitor(
                    device,
                    utc_datetime64([ts for ts, _ in series]),
                    {p: np.array([v[p] for _, v in series], dtype=float) for p in POLLUTANTS},
                    interval_s=AIR_QUALITY.expected_interval_s,
                    site_type=info.site_type,
                    zones=info.zones,
                )
            )
        return out


_NONE = _MonitorInfo((), "urban_background", None, None)


def _empty(device: str) -> Monitor:
    return Monitor(device, utc_datetime64([]), {}, interval_s=AIR_QUALITY.expected_interval_s)


def _float(value: float | bool | None) -> float:
    return float("nan") if value is None else float(value)
