"""Helpers for end-to-end tests: register a fleet, run ingest in-process, count what was stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator

import psycopg

from devices.registry import Device
from ingest.service import Ingest, IngestConfig
from simulators.fleet import Fleet
from storage.connection import connect
from storage.registry import upsert

TABLES = ("air_quality_readings", "parking_bay_readings", "smart_meter_readings")


async def register(url: str, fleet: Fleet) -> None:
    async with await connect(url) as conn:
        await upsert(conn, [Device(d.device_id, d.device_type) for d in fleet.devices])


def config(database_url: str, mqtt_url: str, **overrides: object) -> IngestConfig:
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_url": mqtt_url,
        "client_id": f"test-ingest-{uuid.uuid4().hex[:10]}",
        "session_expiry": 30,  # long enough for a broker restart; short on a shared broker
        # "3.1.1" for brokers without MQTT 5 (the embedded amqtt sets it; CI may too).
        "protocol": os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5"),
    }
    values.update(overrides)
    return IngestConfig(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(cfg: IngestConfig) -> AsyncIterator[Ingest]:
    """Ingest running in this event loop; stopped (drained) on exit."""
    ingest = Ingest(cfg)
    task = asyncio.create_task(ingest.run())
    try:
        if not await ingest.wait_ready(30):
            raise TimeoutError("ingest did not subscribe within 30 s")
        yield ingest
    finally:
        ingest.stop()
        await asyncio.wait_for(task, 60)


async def wait_for(predicate, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def stored(url: str, prefix: str) -> dict[str, int]:
    """Rows per readings table for devices whose id starts with ``prefix``."""
    with psycopg.connect(url) as conn:
        counts = {}
        for table in TABLES:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE device_id LIKE %s", (f"{prefix}%",)
            ).fetchone()
            assert row is not None
            counts[table] = int(str(row[0]))
        return counts
