"""Publishing through a real broker: gateway mode into ingest, per-device sessions with wills,
and ten thousand devices from one process (marked slow)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import psycopg
import pytest

from civicpulse.embedded import EmbeddedBroker
from devices.registry import Device
from devices.types import DEVICE_TYPES
from simulators.engine import Simulation
from simulators.mqtt.sinks import DeviceSessionsSink, GatewaySink
from simulators.plan import Plan
from simulators.runner import prepare, run_simulation, simulate
from simulators.scenario import Event, Selector
from storage.connection import connect
from storage.registry import upsert
from tests.ingest_harness import config, running, wait_for
from tests.simulators.broker_probe import TelemetryCounter, retained_statuses
from tests.simulators.payloads import decode_all

WEATHER = 1 if "weather" in DEVICE_TYPES else 0  # registered once devices/types/weather.py lands
QUIET = {"duplicate_rate": 0.0, "out_of_order_rate": 0.0, "late_rate": 0.0, "malformed_rate": 0.0}


async def register(db: str, plan: Plan) -> None:
    async with await connect(db) as conn:
        await upsert(
            conn,
            [
                Device(d.device_id, d.device_type, None, d.latitude, d.longitude)
                for d in plan.devices
            ],
        )


def expected_rows(plan: Plan) -> tuple[dict[str, int], int]:
    """Rows per table the plan's messages must become, and how many messages are malformed."""
    sim = Simulation(plan)
    assert plan.end is not None
    items = [i for i in [*sim.window(plan.start, plan.end), *sim.finish()] if hasattr(i, "payload")]
    keys: dict[str, set[tuple[str, datetime]]] = {}
    malformed = 0
    for _, result in decode_all(plan.devices, items):  # type: ignore[arg-type]
        malformed += bool(result.rejections)
        for r in result.readings:
            keys.setdefault(DEVICE_TYPES[r.device_type].table, set()).add((r.device_id, r.ts))
    return {table: len(v) for table, v in keys.items()}, malformed


def stored(db: str, prefix: str, tables: list[str]) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        counts = {}
        for table in tables:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE device_id LIKE %s", (f"{prefix}%",)
            ).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


async def test_gateway_mode_through_ingest_stores_exactly_the_readings(
    db: str, mqtt_url: str, prefix: str
) -> None:
    plan = prepare(
        "smoke",
        overrides={
            "fleet": {
                "prefix": prefix,
                "counts": {
                    "air_quality": 6,
                    "parking_bay": 24,
                    "smart_meter": 8,
                    "weather": WEATHER,
                },
            }
        },
    )
    await register(db, plan)
    expected, malformed = expected_rows(plan)
    assert malformed > 0 and all(expected.values())
    async with running(config(db, mqtt_url)) as ingest:
        sink = GatewaySink(mqtt_url, connections=2, max_inflight=50)
        await sink.open(plan.devices)
        try:
            report = await simulate(plan, sink, drain_timeout=60)
        finally:
            await sink.close()
        assert report.acked == report.messages
        # Judged by this test's own rows: a shared broker's retained statuses of other devices
        # also reach ingest, so its acknowledgement count can run ahead.
        await wait_for(lambda: stored(db, prefix, list(expected)) == expected)
        await wait_for(lambda: ingest.metrics.quarantined.total() >= malformed)
    assert stored(db, prefix, list(expected)) == expected
    with psycopg.connect(db) as conn:  # identical bad payloads share a row (deliveries counts them)
        row = conn.execute(
            "SELECT sum(deliveries) FROM quarantine WHERE topic LIKE %s",
            (f"civicpulse/v1/devices/{prefix}%",),
        ).fetchone()
    assert row is not None and row[0] == malformed == report.faults.malformed


async def test_per_device_sessions_publish_online_and_wills_fire_on_abrupt_drops(
    own_broker: EmbeddedBroker, prefix: str
) -> None:
    # Its own broker: the counter below receives 1,600 messages in a burst, and a broker with
    # Mosquitto's default max_queued_messages (1000) would drop part of them.
    mqtt_url = own_broker.url
    base = prepare(
        "smoke",
        overrides={
            "fleet": {
                "prefix": prefix,
                "counts": {"air_quality": 40, "parking_bay": 100, "smart_meter": 60},
            },
            "faults": QUIET,
        },
    )
    dropped = Event(
        "outage",
        Selector(device_type="parking_bay", count=10),
        "+30m",
        None,
        {"clean": False, "backlog": False},
    )
    away = Event(
        "outage",
        Selector(device_type="smart_meter", count=5),
        "+20m",
        1800.0,
        {"clean": True, "backlog": True},
    )
    plan = prepare(base.scenario.replace(events=(dropped, away)))
    gone = {d for d, outages in plan.outages.items() if outages[0].end is None}
    assert len(plan.devices) == 200 and len(gone) == 10
    counter = await asyncio.to_thread(TelemetryCounter, mqtt_url, prefix)
    sink = DeviceSessionsSink(mqtt_url, max_inflight=10)
    await sink.open(plan.devices)
    try:
        report = await simulate(plan, sink, drain_timeout=60)
        assert report.faults.disconnects == 15 and sink.online == 190
        # While the others are still connected: the dropped devices' wills said "offline".
        statuses = await asyncio.to_thread(retained_statuses, mqtt_url, prefix, 200)
        assert {d for d, s in statuses.items() if s == b"offline"} == gone
        assert Counter(statuses.values()) == {b"online": 190, b"offline": 10}
    finally:
        await sink.close()
    assert await asyncio.to_thread(counter.wait_for, report.messages) == report.messages
    counter.close()
    statuses = await asyncio.to_thread(retained_statuses, mqtt_url, prefix, 200)
    assert set(statuses.values()) == {b"offline"}  # a clean shutdown says goodbye


def _city(prefix: str, connection: str) -> dict[str, object]:
    return {
        "fleet": {
            "prefix": prefix,
            "counts": {
                "air_quality": 2500,
                "parking_bay": 2500,
                "smart_meter": 2500,
                "weather": 2500,
            },
        },
        "time": {"mode": "backfill", "start": "now-1h", "duration": 3600.0},
        "reporting": {
            "air_quality_s": 1800.0,
            "weather_s": 1800.0,
            "parking_heartbeat_s": 1800.0,
            "batch": 1,
            "flicker_rate": 0.0,
        },
        "publish": {"connection": connection, "connect_rate": 2000.0},
        "faults": {**QUIET, "clock_skew_fraction": 0.0},
        "events": (),
    }


@pytest.mark.slow
@pytest.mark.parametrize("connection", ["gateway", "per-device"])
async def test_ten_thousand_devices_from_one_process(
    own_broker: EmbeddedBroker, prefix: str, connection: str
) -> None:
    counter = await asyncio.to_thread(TelemetryCounter, own_broker.url, prefix)
    try:
        report = await asyncio.to_thread(
            run_simulation,
            "smoke",
            mqtt_url=own_broker.url,
            overrides=_city(prefix, connection),
            quiet=True,
        )
        assert report.devices == 10_000
        assert report.messages >= 20_000 and report.acked == report.publishes
        assert await asyncio.to_thread(counter.wait_for, report.messages) == report.messages
    finally:
        counter.close()
    print(f"\n{connection}: {report.summary()}")
