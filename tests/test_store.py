"""The store on a real database: idempotent writes, quarantine, status history, exact rollups."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from devices.contract import Limits, status_topic, telemetry_topic
from devices.registry import Device
from devices.types import DEVICE_TYPES
from ingest.devices_cache import DeviceCache
from ingest.prepare import InMessage, prepare
from simulators.fleet import Fleet
from storage.connection import Conn, Mode
from storage.registry import upsert
from storage.writer import Store


def _messages(pairs: list[tuple[str, bytes]], at: float | None = None) -> list[InMessage]:
    now = at or time.time()
    return [InMessage(t, p, i + 1, 1, 0, now) for i, (t, p) in enumerate(pairs)]


async def _fleet(conn: psycopg.AsyncConnection[tuple[object, ...]], prefix: str) -> Fleet:
    fleet = Fleet.create(air_quality=3, parking_bay=3, smart_meter=3, prefix=prefix)
    await upsert(conn, [Device(d.device_id, d.device_type) for d in fleet.devices])
    return fleet


async def _write(db: str, cache: DeviceCache, messages: list[InMessage]):  # type: ignore[no-untyped-def]
    store = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await cache.resolve(store.connection, (m.topic for m in messages))
        return await store.write(prepare(messages, cache.lookup, Limits(), DEVICE_TYPES))
    finally:
        await store.close()


async def test_rewriting_a_batch_stores_nothing_twice(db: str, aconn, prefix: str) -> None:  # type: ignore[no-untyped-def]
    fleet = await _fleet(aconn, prefix)
    start = datetime.now(UTC) - timedelta(hours=3)
    pairs = list(fleet.messages(start=start, count=90))
    cache = DeviceCache(DEVICE_TYPES)
    first = await _write(db, cache, _messages(pairs))
    assert sum(first.inserted.values()) == 90
    assert sum(first.duplicates.values()) == 0
    again = await _write(db, cache, _messages(pairs))
    assert sum(again.inserted.values()) == 0
    assert sum(again.duplicates.values()) == 90
    cur = await aconn.execute(
        "SELECT (SELECT count(*) FROM air_quality_readings) + (SELECT count(*) FROM"
        " parking_bay_readings) + (SELECT count(*) FROM smart_meter_readings)"
    )
    assert (await cur.fetchone()) == (90,)


async def test_rollups_equal_a_direct_aggregate(db: str, aconn, prefix: str) -> None:  # type: ignore[no-untyped-def]
    fleet = await _fleet(aconn, prefix)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    pairs = list(fleet.messages(start=start, count=9 * 200, step=timedelta(minutes=10)))
    cache = DeviceCache(DEVICE_TYPES)
    # Several batches, overlapping, with redeliveries: rollups must count each reading once.
    for chunk in (pairs[:700], pairs[500:1300], pairs[1200:], pairs[:100]):
        await _write(db, cache, _messages(chunk))
    for grain, trunc in (("hourly", "hour"), ("daily", "day")):
        cur = await aconn.execute(
            f"SELECT device_id, bucket, samples, no2_n, round(no2_avg::numeric, 9), no2_min, no2_max"
            f" FROM air_quality_{grain} ORDER BY 1, 2"
        )
        rolled = await cur.fetchall()
        cur = await aconn.execute(
            f"SELECT device_id, date_trunc('{trunc}', ts), count(*), count(no2),"
            " round(avg(no2)::numeric, 9), min(no2), max(no2)"
            " FROM air_quality_readings GROUP BY 1, 2 ORDER BY 1, 2"
        )
        assert rolled == await cur.fetchall()
        assert rolled
    cur = await aconn.execute(
        "SELECT sum(samples), sum(occupied_sum)::bigint FROM parking_bay_hourly"
    )
    direct = await aconn.execute(
        "SELECT count(*), count(*) FILTER (WHERE occupied) FROM parking_bay_readings"
    )
    assert await cur.fetchone() == await direct.fetchone()


async def test_quarantine_keeps_payloads_and_counts_redeliveries(
    db: str, aconn: Conn, prefix: str
) -> None:
    fleet = await _fleet(aconn, prefix)
    aq = fleet.devices[0].device_id
    now = datetime.now(UTC)
    batch = orjson.dumps([{"ts": now.isoformat(), "pm25": 3}, {"ts": now.isoformat(), "pm25": -3}])
    pairs = [
        (telemetry_topic(aq), b"\x00garbage"),
        (telemetry_topic("not-registered"), b'{"pm25": 1}'),
        (telemetry_topic(aq), batch),
    ]
    cache = DeviceCache(DEVICE_TYPES)
    result = await _write(db, cache, _messages(pairs))
    assert result.quarantined == 3
    assert result.inserted["air_quality"] == 1
    await _write(db, cache, _messages(pairs))  # redelivered
    cur = await aconn.execute(
        "SELECT reason, item, deliveries, payload, device_id FROM quarantine ORDER BY reason"
    )
    rows = await cur.fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("bad_json", -1, 2),
        ("out_of_range", 1, 2),
        ("unknown_device", -1, 2),
    ]
    assert rows[0][3] == b"\x00garbage"
    excerpt = rows[1][3]
    assert isinstance(excerpt, bytes)
    assert orjson.loads(excerpt) == {"ts": now.isoformat(), "pm25": -3}
    assert rows[2][4] == "not-registered"


async def test_status_history_keeps_changes_only(db: str, aconn, prefix: str) -> None:  # type: ignore[no-untyped-def]
    fleet = await _fleet(aconn, prefix)
    device = fleet.devices[4].device_id
    base = time.time() - 100
    cache = DeviceCache(DEVICE_TYPES)
    for offset, word in (
        (0, b"online"),
        (1, b"online"),
        (2, b"offline"),
        (3, b"offline"),
        (4, b"online"),
    ):
        await _write(db, cache, _messages([(status_topic(device), word)], at=base + offset))
    cur = await aconn.execute(
        "SELECT online FROM device_status WHERE device_id = %s ORDER BY ts", (device,)
    )
    assert [r[0] for r in await cur.fetchall()] == [True, False, True]
