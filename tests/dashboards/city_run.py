"""One simulated city run in a fresh database, shared by the dashboard tests of a storage mode.

``civicpulse simulate``'s smoke scenario (every device type, two hours of backfill, delivery
faults, one event of each kind) is published to the suite's broker and stored by a real ingest;
zones are registered first as an operator imports them (wards, controlled parking zones). The
tables no simulation fills (alerts, programmes, nudges, deliveries) get records through the
platform's own storage functions, as the alert service and `civicpulse analytics` write them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson
import psycopg

from devices.contract import telemetry_topic
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from simulators import Plan, run_simulation
from simulators.city import PARKING_ZONES
from simulators.publisher import publish_all
from storage.alerts import AlertRecord, Rule, save, save_rules
from storage.connection import Mode, connect
from storage.delivery import claim, finish
from storage.energy import NudgeRow, Programme, replace_nudges, save_assignments, save_programme
from storage.migrate import migrate
from storage.registry import upsert, upsert_zones
from tests.conftest import create_database, drop_database
from tests.ingest_harness import config, running, wait_for


@dataclass(frozen=True, slots=True)
class CityRun:
    url: str
    mode: Mode
    prefix: str
    start: datetime
    end: datetime
    zone: str
    """A zone with air-quality monitors and parking bays (for a one-zone variable value)."""


async def _register(url: str, plan: Plan) -> None:
    devices = []
    for d in plan.devices:
        record = d.record()
        attributes = dict(record["attributes"])
        consent = attributes.pop("consent", None)
        attributes.pop("urban_heat_c", None)
        devices.append(
            validate(
                Device(
                    record["device_id"],
                    record["device_type"],
                    latitude=record["latitude"],
                    longitude=record["longitude"],
                    attributes=attributes,
                    consent=consent,
                    zones=tuple(record["zones"]),
                ),
                DEVICE_TYPES,
            )
        )
    async with await connect(url) as conn:
        await upsert(conn, devices)


async def _zones(url: str) -> None:
    wards = [Zone(f"ward-{i:02d}", "ward", f"Ward {i}") for i in range(1, 19)]
    cpzs = [Zone(z.name, "parking_zone", f"CPZ {z.name}") for z in PARKING_ZONES]
    async with await connect(url) as conn:
        await upsert_zones(conn, [*wards, *cpzs])


async def _records(url: str, prefix: str, now: datetime) -> None:
    """Alerts, a programme with nudges and a trial's arms, and report deliveries."""
    async with await connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT device_id FROM devices WHERE device_id LIKE %s AND device_type = %s"
            " ORDER BY device_id",
            (f"{prefix}%", "air_quality"),
        )
        monitor = str((await cur.fetchone() or ("?",))[0])
        await save_rules(
            conn,
            [Rule("flagged", "sensor_flagged"), Rule("daqi", "zone_daqi", params={})],
        )
        for rule, subject, level, zone in (
            ("flagged", monitor, "flagged", "ward-01"),
            ("daqi", "ward-02", "moderate", "ward-02"),
        ):
            await save(
                conn,
                AlertRecord(
                    None,
                    rule,
                    subject,
                    "open",
                    level,
                    None,
                    f"{subject}: {level}",
                    zone,
                    now - timedelta(minutes=30),
                    now - timedelta(minutes=30),
                ),
                "opened",
                "alert-service",
            )
        cur = await conn.execute(
            "SELECT device_id FROM devices WHERE device_id LIKE %s AND device_type = %s"
            " ORDER BY device_id",
            (f"{prefix}%", "smart_meter"),
        )
        meters = [str(r[0]) for r in await cur.fetchall()]
        await save_programme(conn, Programme("reports", "Home energy reports", trial=True))
        await save_assignments(
            conn,
            "reports",
            [(m, "treatment" if i % 2 else "control", "1") for i, m in enumerate(meters)],
        )
        month = date(now.year, now.month, 1)
        await replace_nudges(
            conn,
            "reports",
            (month - timedelta(days=1)).replace(day=1),
            month,
            [
                NudgeRow(m, m, "ready", rating="good", usage_kwh=200.0, peers=12)
                if i % 3
                else NudgeRow(m, m, "withheld", withheld_reason="few_peers")
                for i, m in enumerate(meters)
            ],
        )
        for m in meters[:3]:
            claimed = await claim(
                conn, "nudge", f"reports:{month}", m, "email", now=datetime.now(UTC)
            )
            assert claimed is not None
            await finish(conn, claimed[0], "sent")


async def _run(url: str, mqtt_url: str, prefix: str) -> datetime:
    await _zones(url)
    async with running(config(url, mqtt_url)) as ingest:
        report = await asyncio.to_thread(
            run_simulation,
            "smoke",
            mqtt_url=mqtt_url,
            overrides={"fleet": {"prefix": prefix}},
            register=lambda plan: asyncio.run(_register(url, plan)),
            quiet=True,
        )
        assert report.acked == report.publishes > 0
        # Everything published before this reading was queued for ingest before it, and ingest
        # commits in arrival order: once it is stored, the whole run is.
        sentinel_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT device_id FROM devices WHERE device_id LIKE %s AND device_type = 'weather'",
                (f"{prefix}%",),
            ).fetchone()
        assert row is not None
        device = str(row[0])
        payload = {"ts": sentinel_at.isoformat(), "seq": 999_999, "temperature_c": 9.0}
        await asyncio.to_thread(
            publish_all,
            mqtt_url,
            [(telemetry_topic(device), orjson.dumps(payload))],
            client_id=f"test-sentinel-{uuid.uuid4().hex[:8]}",
        )

        def stored() -> bool:
            with psycopg.connect(url) as conn:
                found = conn.execute(
                    "SELECT 1 FROM weather_readings WHERE device_id = %s AND ts = %s",
                    (device, sentinel_at),
                ).fetchone()
            return found is not None

        await wait_for(lambda: stored(), 120)
        assert ingest.metrics.messages_acked > 0
    now = datetime.now(UTC)
    await _records(url, prefix, now)
    return now


@contextmanager
def city_run(server: str, mode: Mode, mqtt_url: str) -> Iterator[CityRun]:
    """A fresh database in ``mode`` holding one smoke run; dropped afterwards."""
    url = create_database(server)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    try:
        if mode is Mode.TIMESCALEDB:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                # No policy jobs behind the tests' backs: the real-time aggregates need none.
                conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
        report = asyncio.run(migrate(url, timescaledb="on" if mode is Mode.TIMESCALEDB else "off"))
        assert report.mode is mode
        end = asyncio.run(_run(url, mqtt_url, prefix))
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT m.zone_id FROM device_zones m JOIN devices d USING (device_id)"
                " WHERE d.device_type = 'parking_bay' AND m.zone_id LIKE 'ward-%'"
                " AND EXISTS (SELECT 1 FROM device_zones a JOIN devices x USING (device_id)"
                "   WHERE a.zone_id = m.zone_id AND x.device_type = 'air_quality')"
                " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()
        zone = str(row[0]) if row else "ward-01"
        yield CityRun(url, mode, prefix, end - timedelta(hours=3), end, zone)
    finally:
        drop_database(server, url)


TIMESCALE_SERVER = os.environ.get("CIVICPULSE_TEST_TIMESCALEDB_URL")
