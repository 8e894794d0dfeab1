"""The TimescaleDB path end to end: hypertables, real-time continuous aggregates, consent views.

Runs where ``CIVICPULSE_TEST_TIMESCALEDB_URL`` names a server with TimescaleDB preloaded (it
skips, saying so, elsewhere); CI's PostgreSQL has no TimescaleDB, so it runs on developers'
machines and in deployments' own checks.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.registry import Device, validate
from devices.types import DEVICE_TYPES
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage.connection import Mode, connect
from storage.migrate import migrate
from storage.registry import upsert
from tests.conftest import create_database, drop_database
from tests.ingest_harness import config, running, stored, wait_for

SERVER = os.environ.get("CIVICPULSE_TEST_TIMESCALEDB_URL")
pytestmark = [
    pytest.mark.timescaledb,
    pytest.mark.skipif(
        not SERVER,
        reason="CIVICPULSE_TEST_TIMESCALEDB_URL is not set (a server with TimescaleDB preloaded)",
    ),
]


async def test_ingest_into_hypertables_and_continuous_aggregates(
    mqtt_url: str, prefix: str
) -> None:
    assert SERVER is not None
    db = create_database(SERVER)
    try:
        report = await migrate(db, timescaledb="on")
        assert report.mode is Mode.TIMESCALEDB
        fleet = Fleet.create(air_quality=4, parking_bay=4, smart_meter=4, prefix=prefix)
        async with await connect(db) as conn:
            await upsert(
                conn,
                [
                    validate(
                        Device(
                            d.device_id,
                            d.device_type,
                            consent="daily" if d.device_type == "smart_meter" else None,
                        ),
                        DEVICE_TYPES,
                    )
                    for d in fleet.devices
                ],
            )
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
        messages = list(fleet.messages(start=start, count=12 * 200))
        async with running(config(db, mqtt_url)) as ingest:
            await asyncio.to_thread(publish_all, mqtt_url, messages)
            await asyncio.to_thread(publish_all, mqtt_url, messages[:300])  # redelivered
            await wait_for(lambda: sum(stored(db, prefix).values()) >= 2400)
            await wait_for(lambda: sum(ingest.metrics.duplicates.values()) >= 300)
        assert sum(stored(db, prefix).values()) == 2400
        with psycopg.connect(db) as conn:
            chunks = conn.execute(
                "SELECT count(*) FROM timescaledb_information.chunks"
                " WHERE hypertable_name = 'air_quality_readings'"
            ).fetchone()
            assert chunks is not None and chunks[0] >= 1
            # Real-time continuous aggregates agree with a direct aggregate of the raw rows.
            rolled = conn.execute(
                "SELECT device_id, bucket, samples, round(no2_avg::numeric, 9), no2_max"
                " FROM air_quality_hourly ORDER BY 1, 2"
            ).fetchall()
            direct = conn.execute(
                "SELECT device_id, time_bucket('1 hour', ts), count(*), round(avg(no2)::numeric, 9),"
                " max(no2) FROM air_quality_readings GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
            assert rolled == direct
            daily = conn.execute("SELECT sum(samples) FROM parking_bay_daily").fetchone()
            assert daily == (800,)
            # Meter data through the consent views only: daily consent, no sub-daily rows.
            assert conn.execute(
                "SELECT count(*) FROM smart_meter_readings_permitted"
            ).fetchone() == (0,)
            permitted = conn.execute(
                "SELECT sum(samples) FROM smart_meter_daily_permitted"
            ).fetchone()
            assert permitted == (800,)
            conn.execute("SET ROLE civicpulse_reader")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM smart_meter_readings")
    finally:
        drop_database(SERVER, db)
