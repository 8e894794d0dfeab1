"""Ingest end to end through the real broker into the real database (in-process ingest)."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from civicpulse.embedded import free_port
from devices.contract import telemetry_topic
from simulators.fleet import Fleet, faulty_messages
from simulators.publisher import publish_all
from tests.ingest_harness import config, register, running, stored, wait_for


async def test_every_reading_stored_exactly(db: str, mqtt_url: str, prefix: str) -> None:
    fleet = Fleet.create(air_quality=4, parking_bay=4, smart_meter=4, prefix=prefix)
    await register(db, fleet)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    messages = list(fleet.messages(start=start, count=12 * 25))
    async with running(config(db, mqtt_url)):
        await asyncio.to_thread(publish_all, mqtt_url, messages)
        await wait_for(lambda: _rows(db, prefix) >= 300)
    assert stored(db, prefix) == {
        "air_quality_readings": 100,
        "parking_bay_readings": 100,
        "smart_meter_readings": 100,
    }
    # Exact content: what was published is what is in the table.
    expected = {}
    for topic, payload in messages:
        body = orjson.loads(payload)
        if "pm25" in body:
            device = topic.split("/")[3]
            expected[(device, datetime.fromisoformat(body["ts"]))] = (
                body["seq"],
                body["pm25"],
                body["no2"],
            )
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT device_id, ts, seq, pm25, no2 FROM air_quality_readings WHERE device_id LIKE %s",
            (f"{prefix}%",),
        ).fetchall()
    assert {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows} == expected


async def test_redelivered_messages_make_no_duplicates(db: str, mqtt_url: str, prefix: str) -> None:
    fleet = Fleet.create(air_quality=2, parking_bay=2, smart_meter=2, prefix=prefix)
    await register(db, fleet)
    messages = list(fleet.messages(start=datetime.now(UTC) - timedelta(hours=1), count=300))
    async with running(config(db, mqtt_url)) as ingest:
        await asyncio.to_thread(publish_all, mqtt_url, messages)
        await asyncio.to_thread(
            publish_all, mqtt_url, messages[:200]
        )  # resent, as after a reconnect
        await wait_for(lambda: sum(ingest.metrics.duplicates.values()) >= 200)
        assert sum(ingest.metrics.duplicates.values()) == 200
    assert sum(stored(db, prefix).values()) == 300


async def test_bad_messages_are_quarantined_and_ingest_keeps_going(
    db: str, mqtt_url: str, prefix: str
) -> None:
    fleet = Fleet.create(air_quality=2, parking_bay=2, smart_meter=2, prefix=prefix)
    await register(db, fleet)
    now = datetime.now(UTC)
    good = list(fleet.messages(start=now - timedelta(hours=1), count=60))
    bad = faulty_messages(fleet, now)
    interleaved = [
        m for pair in zip(good[:10], [(t, p) for t, p, _ in bad], strict=True) for m in pair
    ]
    batch = (
        telemetry_topic(fleet.devices[0].device_id),
        orjson.dumps([{"ts": (now - timedelta(days=1)).isoformat(), "pm25": 2}, {"pm25": "x"}]),
    )
    async with running(config(db, mqtt_url)):
        await asyncio.to_thread(publish_all, mqtt_url, [*interleaved, batch, *good[10:]])
        await wait_for(lambda: _rows(db, prefix) >= 61 and len(_reasons(db, prefix)) >= 11)
    assert sum(stored(db, prefix).values()) == 61
    reasons = _reasons(db, prefix)
    assert reasons == sorted([reason for _, _, reason in bad] + ["wrong_type"])


@pytest.mark.mosquitto_only
async def test_shared_subscription_splits_the_load(db: str, mqtt_url: str, prefix: str) -> None:
    fleet = Fleet.create(air_quality=5, parking_bay=5, smart_meter=5, prefix=prefix)
    await register(db, fleet)
    messages = list(fleet.messages(start=datetime.now(UTC) - timedelta(hours=4), count=3000))
    group = f"g{prefix}"
    async with (
        running(config(db, mqtt_url, share_group=group)) as one,
        running(config(db, mqtt_url, share_group=group)) as two,
    ):
        await asyncio.to_thread(publish_all, mqtt_url, messages)
        await wait_for(lambda: _rows(db, prefix) >= 3000)
        assert one.metrics.messages_received > 0
        assert two.metrics.messages_received > 0
        # A shared broker may add other devices' retained statuses, never fewer messages.
        assert one.metrics.messages_received + two.metrics.messages_received >= 3000
    assert sum(stored(db, prefix).values()) == 3000


async def test_metrics_endpoint(db: str, mqtt_url: str, prefix: str) -> None:
    fleet = Fleet.create(air_quality=1, parking_bay=1, smart_meter=1, prefix=prefix)
    await register(db, fleet)
    port = free_port()
    messages = list(fleet.messages(start=datetime.now(UTC) - timedelta(hours=1), count=30))
    async with running(config(db, mqtt_url, metrics_port=port)) as ingest:
        await asyncio.to_thread(publish_all, mqtt_url, [*messages, (messages[0][0], b"{")])
        await wait_for(
            lambda: _rows(db, prefix) >= 30 and ingest.metrics.quarantined["bad_json"] >= 1
        )
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        )
    text = body.decode()
    assert 'civicpulse_ingest_rows_written_total{device_type="air_quality"} 10.0' in text
    assert 'civicpulse_ingest_quarantined_total{reason="bad_json"} 1.0' in text
    acked = next(
        line
        for line in text.splitlines()
        if line.startswith("civicpulse_ingest_messages_acked_total")
    )
    assert float(acked.split()[1]) >= 31  # plus any retained statuses a shared broker holds
    assert "civicpulse_ingest_batch_seconds_count" in text


# Completion is judged by this test's own rows: a shared broker may hold other devices' retained
# statuses, which ingest also receives and acknowledges, so message counts can run ahead.
def _rows(db: str, prefix: str) -> int:
    return sum(stored(db, prefix).values())


def _reasons(db: str, prefix: str) -> list[str]:
    with psycopg.connect(db) as conn:
        return sorted(
            str(r[0])
            for r in conn.execute(
                "SELECT reason FROM quarantine WHERE device_id LIKE %s OR device_id IS NULL"
                " OR device_id IN ('nobody-registered-this', 'id with spaces')",
                (f"{prefix}%",),
            )
        )
