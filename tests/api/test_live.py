"""Live updates over Server-Sent Events, on a real server: a bay change committed by ingest
reaches a client streaming its zone; a client that goes away is taken off the hub; a client
that reconnects gets what it missed, or a ``reset``; a lost change feed resets everyone; alert
events stream by zone, as each scope may see them, and resume by id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import psycopg
import pytest
from fastapi import FastAPI

from analytics.parking import ALL, availability
from api import create_app
from api.keys import key_hash, new_key
from api.live import Hub, LiveConfig
from devices.contract import telemetry_topic
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from simulators.publisher import publish_all
from storage import alerts as alert_store
from storage import api_keys
from storage.alerts import AlertRecord, Rule
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.registry import upsert, upsert_zones
from storage.writer import Store
from tests.api.conftest import bearer, config
from tests.api.live_server import EventReader, Received, live_server
from tests.ingest_harness import config as ingest_config
from tests.ingest_harness import running

ZONE = "cpz-live"
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-0.2, 51.5], [-0.1, 51.5], [-0.1, 51.6], [-0.2, 51.6], [-0.2, 51.5]]],
}
FAST = LiveConfig(heartbeat_s=0.2, tick_s=0.2)


async def _city(db: str, prefix: str, *extra: Device) -> tuple[str, str]:
    """A parking zone with two bays; returns their ids."""
    bays = [
        Device(
            f"{prefix}-bay-{i}",
            "parking_bay",
            latitude=51.55,
            longitude=-0.15 + i / 1000,
            attributes={"bay_id": f"B{i}", "street": "Agar Grove", "parking_zone": "CA-X"},
        )
        for i in (1, 2)
    ]
    async with await connect(db, autocommit=True) as conn:
        await upsert_zones(conn, [Zone(ZONE, "parking_zone", "CPZ Live", SQUARE)])
        await upsert(conn, [validate(d, DEVICE_TYPES) for d in [*bays, *extra]])
    return bays[0].device_id, bays[1].device_id


async def write_bays(db: str, readings: dict[str, list[tuple[datetime, bool]]]) -> None:
    """Through the ingest write path (its transaction announces the change on commit)."""
    columns = DEVICE_TYPES["parking_bay"].columns
    prepared = Prepared()
    prepared.rows["parking_bay"] = [
        (device, ts, seq, ts, *[value if c == "occupied" else None for c in columns])
        for device, series in readings.items()
        for seq, (ts, value) in enumerate(series)
    ]
    store = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await store.write(prepared)
    finally:
        await store.close()


def _app(db: str) -> FastAPI:
    app = create_app(config(db))
    app.state.live_config = FAST
    return app


def _hub(app: FastAPI) -> Hub:
    found = app.state.live
    assert isinstance(found, Hub)
    return found


async def _until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _counts(event: Received) -> tuple[int, int, int, int]:
    data = event.data
    assert isinstance(data, dict)
    assert data["zone_id"] == ZONE
    return data["free"], data["occupied"], data["unknown"], data["total"]


async def test_a_bay_change_committed_by_ingest_reaches_the_stream(
    db: str, mqtt_url: str, prefix: str
) -> None:
    bay_1, bay_2 = await _city(db, prefix)
    now = datetime.now(UTC).replace(microsecond=0)
    await write_bays(db, {bay_1: [(now - timedelta(minutes=30), False)], bay_2: [(now, True)]})
    app = _app(db)
    async with (
        running(ingest_config(db, mqtt_url)),
        live_server(app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        client.stream("GET", f"/v1/parking/zones/{ZONE}/availability/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        reader = EventReader(response)
        first = await reader.next()
        # bay-2's car was seen this second: not confirmed until the debounce minute has passed.
        assert (first.event, _counts(first)) == ("reset", (1, 0, 1, 2))
        assert reader.retry == 3000
        # A car arrived at bay-1 two minutes ago by the sensor's clock: past the debounce, so
        # it counts as soon as ingest commits it.
        payload = {"ts": (now - timedelta(minutes=2)).isoformat(), "seq": 7, "occupied": True}
        sent = [(telemetry_topic(bay_1), orjson.dumps(payload))]
        assert await asyncio.to_thread(publish_all, mqtt_url, sent, client_id=f"{prefix}-pub") == 1
        change = await reader.next()
        assert (change.event, _counts(change)) == ("availability", (0, 1, 1, 2))
        assert change.id is not None and first.id is not None
        epoch, _, number = change.id.partition("-")
        assert first.id.startswith(epoch + "-") and int(number) > int(first.id.partition("-")[2])
        # Nothing else happening: heartbeats keep the connection alive.
        await reader.comment()
        assert reader.comments[-1] == ": keep-alive"


async def test_a_client_that_goes_away_is_taken_off_the_hub(db: str, prefix: str) -> None:
    await _city(db, prefix)
    app = _app(db)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        hub = _hub(app)
        path = f"/v1/parking/zones/{ZONE}/availability/stream"
        async with client.stream("GET", path) as staying:
            # Kept: a reader dropped closes its response (httpx finalises its line iterator).
            kept = EventReader(staying)
            await kept.next()
            async with client.stream("GET", path) as leaving:
                await EventReader(leaving).next()
                assert hub.streams == 2
            # The connection is closed: the server notices and drops the subscriber.
            await _until(lambda: hub.streams == 1)
            await kept.comment()  # the other stream goes on
        await _until(lambda: hub.streams == 0)
        unknown = await client.get("/v1/parking/zones/no-such-zone/availability/stream")
        assert unknown.status_code == 404
        assert hub.streams == 0


async def _read_first(client: httpx.AsyncClient, path: str, last: str | None = None) -> Received:
    headers = {} if last is None else {"Last-Event-ID": last}
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        return await EventReader(response).next()


async def test_reconnecting_resumes_or_resets(db: str, prefix: str) -> None:
    bay_1, _ = await _city(db, prefix)
    now = datetime.now(UTC).replace(microsecond=0)
    await write_bays(db, {bay_1: [(now - timedelta(minutes=30), False)]})
    app = _app(db)
    path = f"/v1/parking/zones/{ZONE}/availability/stream"
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        hub = _hub(app)
        reset = await _read_first(client, path)
        assert reset.event == "reset" and _counts(reset) == (1, 0, 1, 2)
        # While the client is away, the car arrives (ten minutes ago by the sensor's clock).
        await write_bays(db, {bay_1: [(now - timedelta(minutes=10), True)]})
        await _until(lambda: hub.board.zone_counts(ZONE).counts.occupied == 1)
        missed = await _read_first(client, path, last=reset.id)
        assert missed.event == "availability" and _counts(missed) == (0, 1, 1, 2)
        # Counts moved change by change equal the analytics' count of the bays' states.
        bays = hub.board.members[ZONE]
        states = {b.device_id: hub.board.state(b.device_id) for b in bays}
        assert hub.board.zone_counts(ZONE).counts == availability(bays, states, by="all")[ALL]
        # Nothing missed since: no event until something changes (a heartbeat, no reset).
        async with client.stream("GET", path, headers={"Last-Event-ID": str(missed.id)}) as r:
            reader = EventReader(r)
            await reader.comment()
            with pytest.raises(TimeoutError):
                await reader.next(seconds=0.5)
        # An id from another process (or nonsense): start again from the counts.
        for other in ("0badc0de-3", "nonsense"):
            again = await _read_first(client, path, last=other)
            assert again.event == "reset" and _counts(again) == (0, 1, 1, 2)


async def test_a_lost_change_feed_resets_every_client(db: str, prefix: str) -> None:
    bay_1, _ = await _city(db, prefix)
    now = datetime.now(UTC).replace(microsecond=0)
    await write_bays(db, {bay_1: [(now - timedelta(minutes=30), False)]})
    app = _app(db)
    path = f"/v1/parking/zones/{ZONE}/availability/stream"
    async with (
        live_server(app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        client.stream("GET", path) as response,
    ):
        reader = EventReader(response)
        assert (await reader.next()).event == "reset"
        with psycopg.connect(db, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query = 'LISTEN \"civicpulse_changes\"'"
            ).fetchone()
        assert cut == (1,)
        # A change committed while the hub is not listening: nobody announces it to the hub.
        await write_bays(db, {bay_1: [(now - timedelta(minutes=10), True)]})
        after = await reader.next()
        assert after.event == "reset" and _counts(after) == (0, 1, 1, 2)


async def _save(db: str, rule: str, subject: str, message: str) -> int:
    at = datetime.now(UTC)
    async with await connect(db, autocommit=True) as conn:
        saved = await alert_store.save(
            conn,
            AlertRecord(None, rule, subject, "open", "high", 7.0, message, ZONE, at, at),
            "opened",
            "civicpulse-alerts",
        )
    assert saved.alert_id is not None
    return saved.alert_id


def _alert(event: Received) -> tuple[str, str, str]:
    data = event.data
    assert isinstance(data, dict) and isinstance(data["alert"], dict)
    return event.event, data["action"], data["alert"]["message"]


async def test_alert_events_stream_by_zone_as_each_scope_may_see_them(db: str, prefix: str) -> None:
    meter = Device(
        f"{prefix}-meter",
        "smart_meter",
        latitude=51.55,
        longitude=-0.16,
        attributes={"household_id": f"hh-{prefix}"},
        consent="daily",
    )
    await _city(db, prefix, meter)
    async with await connect(db, autocommit=True) as conn:
        await alert_store.save_rules(
            conn, [Rule("daqi", "zone_daqi"), Rule("offline", "device_offline")]
        )
        keys = await _officer_key(conn)
    first_id = await _save(db, "daqi", ZONE, "Air quality in CPZ Live is high")
    app = _app(db)
    path = f"/v1/alerts/zones/{ZONE}/stream"
    async with (
        live_server(app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        client.stream("GET", path) as public_response,
        client.stream("GET", path, headers=bearer(keys)) as officer_response,
    ):
        public, officer = EventReader(public_response), EventReader(officer_response)
        resets = [await public.next(), await officer.next()]
        for reset in resets:
            assert reset.event == "reset" and reset.id == str(await _last_event(db))
            assert isinstance(reset.data, dict)
            assert [a["alert_id"] for a in reset.data["alerts"]] == [first_id]
        await _save(db, "offline", meter.device_id, f"{meter.device_id} went offline")
        assert _alert(await officer.next()) == (
            "alert",
            "opened",
            f"{meter.device_id} went offline",
        )
        later = await _save(db, "offline", f"{prefix}-bay-1", "A bay went offline")
        # The public client never hears of the meter (a device in a home): its next event is
        # the bay's.
        seen = await public.next()
        assert _alert(seen) == ("alert", "opened", "A bay went offline")
        assert _alert(await officer.next())[2] == "A bay went offline"
        assert seen.id == str(await _last_event(db))
        # Resuming from before both: the missed events, by id, as the scope may see them.
        resumed = await _read_first(client, path, last=resets[0].id)
        assert resumed.event == "alert" and isinstance(resumed.data, dict)
        assert resumed.data["alert"]["alert_id"] == later


async def _officer_key(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> str:
    key = new_key()
    await api_keys.create(conn, name="officer", scope="officer", key_hash=key_hash(key))
    return key


async def _last_event(db: str) -> int:
    async with await connect(db, autocommit=True) as conn:
        return await alert_store.last_event_id(conn)
