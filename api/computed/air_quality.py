"""Air quality from the monitors' stored readings: the current DAQI of every monitor and zone,
a monitor's daily DAQI, and a monitor's year against the UK limits and WHO 2021 guidelines.

The analytics compute everything (:func:`~analytics.air_quality.clean_monitor` first, so a
stuck or faulty sensor is left out rather than reported as pollution, then
:func:`~analytics.air_quality.monitor_daqi` and :func:`~analytics.air_quality.zone_daqi`,
:func:`~analytics.air_quality.daily_daqi`, :func:`~analytics.air_quality.assess_monitor_year`);
this module reads what they need, as the alert service's air-quality evaluator does, and the
routes keep the results briefly.

The current snapshot cleans every monitor against all the others (drift is judged against
neighbours of the same site type across the borough). History and compliance clean each monitor
on its own: drift needs neighbours over the same days, which would mean reading every
monitor's year; out-of-range, stuck and spike checks still apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from analytics.air_quality import (
    DailyDaqi,
    Monitor,
    MonitorDaqi,
    YearCompliance,
    ZoneDaqi,
    assess_monitor_year,
    clean_monitor,
    daily_daqi,
    monitor_daqi,
    reasons,
    utc_datetime64,
    zone_daqi,
)
from analytics.air_quality.pollutants import POLLUTANTS
from devices.registry import Device
from devices.types import AIR_QUALITY
from storage.connection import Conn
from storage.readings import Selection, readings
from storage.registry import list_devices, list_zones, zones_of

WINDOW = timedelta(hours=25)
"""The PM running 24-hour mean needs a day of readings before its last complete hour."""
FLAG_RECENT = timedelta(hours=2)
LONDON = "Europe/London"
ZONE = ZoneInfo(LONDON)
"""Days (history, compliance) are local calendar days."""


@dataclass(frozen=True, slots=True)
class Site:
    device_id: str
    name: str | None
    lon: float | None
    lat: float | None
    zones: tuple[str, ...]
    site_type: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every monitor's and zone's DAQI at one instant."""

    at: datetime
    sites: Mapping[str, Site]
    monitors: Mapping[str, MonitorDaqi]
    flags: Mapping[str, Mapping[str, tuple[str, ...]]]
    """Monitor → pollutant → why QC excluded some of its readings of the last two hours."""
    zones: Mapping[str, ZoneDaqi]
    """Zones with at least one monitor."""
    zone_names: Mapping[str, str]


def _site(device: Device, zones: Sequence[str]) -> Site:
    return Site(
        device.device_id,
        device.name,
        device.longitude,
        device.latitude,
        tuple(zones),
        str(device.attributes.get("site_type", "urban_background")),
    )


async def _monitors(
    conn: Conn, sites: Mapping[str, Site], start: datetime, end: datetime
) -> dict[str, Monitor]:
    rows = await readings(
        conn,
        AIR_QUALITY,
        start=start,
        end=end,
        selection=Selection(device_ids=list(sites)),
        fields=list(POLLUTANTS),
        limit=100_000_000,
    )
    by_device: dict[str, list[tuple[datetime, list[float]]]] = {}
    for row in rows:
        values = [np.nan if row.values.get(p) is None else float(row.values[p]) for p in POLLUTANTS]  # type: ignore[arg-type]
        by_device.setdefault(row.device_id, []).append((row.ts, values))
    out = {}
    for device, site in sites.items():
        series = by_device.get(device, [])
        columns = np.array([v for _, v in series], dtype=float).reshape(
            len(series), len(POLLUTANTS)
        )
        out[device] = Monitor(
            device,
            utc_datetime64([ts for ts, _ in series]),
            {p: columns[:, i] for i, p in enumerate(POLLUTANTS)},
            interval_s=AIR_QUALITY.expected_interval_s,
            site_type=site.site_type,
            zones=site.zones,
        )
    return out


async def snapshot(conn: Conn, now: datetime) -> Snapshot:
    """The current DAQI of every monitor (after QC) and of every zone holding one."""
    memberships = await zones_of(conn)
    sites = {
        d.device_id: _site(d, memberships.get(d.device_id, ()))
        for d in await list_devices(conn, device_type=AIR_QUALITY.name)
    }
    monitors = await _monitors(conn, sites, now - WINDOW, now + timedelta(minutes=10))
    every = list(monitors.values())
    recent = np.datetime64((now - FLAG_RECENT).astimezone(UTC).replace(tzinfo=None), "s")
    daqi: dict[str, MonitorDaqi] = {}
    flags: dict[str, dict[str, tuple[str, ...]]] = {}
    for device, monitor in monitors.items():
        cleaned, marks = clean_monitor(monitor, neighbours=every)
        daqi[device] = monitor_daqi(cleaned, at=now)
        late = monitor.timestamps >= recent
        found = {
            str(name): tuple(
                sorted(
                    {
                        r.lower()
                        for value in np.asarray(column)[late]
                        if value
                        for r in reasons(int(value))
                    }
                )
            )
            for name, column in marks.items()
        }
        flags[device] = {name: why for name, why in found.items() if why}
    members: dict[str, list[MonitorDaqi]] = {}
    for device, site in sites.items():
        for zone in site.zones:
            members.setdefault(zone, []).append(daqi[device])
    names = {z.zone_id: z.name for z in await list_zones(conn)}
    return Snapshot(
        now,
        sites,
        daqi,
        flags,
        {zone: zone_daqi(zone, found) for zone, found in members.items()},
        names,
    )


async def _one(conn: Conn, device_id: str) -> Site | None:
    memberships = await zones_of(conn)
    found = [
        d
        for d in await list_devices(conn, device_type=AIR_QUALITY.name)
        if d.device_id == device_id
    ]
    return _site(found[0], memberships.get(device_id, ())) if found else None


def _local_midnight(day: date, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def daily_history(
    conn: Conn, device_id: str, first: date, last: date, *, tz: str = LONDON
) -> DailyDaqi | None:
    """The monitor's DAQI for each local day ``first`` … ``last`` (``None``: no such monitor)."""
    site = await _one(conn, device_id)
    if site is None:
        return None
    # A day early: the first day's running 8-hour means start in the evening before it.
    start = _local_midnight(first - timedelta(days=1), tz)
    end = _local_midnight(last + timedelta(days=1), tz)
    monitor = _measured((await _monitors(conn, {device_id: site}, start, end))[device_id])
    cleaned, _ = clean_monitor(monitor)
    return daily_daqi(cleaned, tz=tz)


async def year_compliance(
    conn: Conn, device_id: str, year: int, *, tz: str = LONDON
) -> tuple[YearCompliance, ...] | None:
    """The monitor's local calendar ``year`` against every objective for what it measures."""
    site = await _one(conn, device_id)
    if site is None:
        return None
    start = _local_midnight(date(year, 1, 1), tz) - timedelta(hours=7)  # whole 8-hour means
    end = _local_midnight(date(year + 1, 1, 1), tz)
    monitor = _measured((await _monitors(conn, {device_id: site}, start, end))[device_id])
    cleaned, _ = clean_monitor(monitor)
    return assess_monitor_year(cleaned, year=year, tz=tz)


def _measured(monitor: Monitor) -> Monitor:
    """Only the pollutants the monitor reported at all in the period: a year judged on a
    pollutant it does not measure would only say "insufficient data"."""
    measured = {p: v for p, v in monitor.values.items() if np.isfinite(v).any()}
    return Monitor(
        monitor.monitor_id,
        monitor.timestamps,
        measured,
        interval_s=monitor.interval_s,
        site_type=monitor.site_type,
        zones=monitor.zones,
    )
