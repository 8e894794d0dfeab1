"""Device health: backfill is recovering (not late), wills mark offline, seq gaps show."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from civicpulse.mqtt.client import BrokerAddress, stop_loop
from devices.contract import status_topic, telemetry_topic
from devices.health import Observations, assess
from devices.registry import Device
from devices.types import DEVICE_TYPES
from simulators.publisher import publish_all
from storage.connection import connect
from storage.health import fleet_health
from storage.registry import upsert
from tests.ingest_harness import config, running, stored, wait_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def _obs(**changes: object) -> Observations:
    base: dict[str, object] = dict(
        device_id="a",
        device_type="air_quality",
        expected_interval=timedelta(minutes=5),
        firmware_version="1.0",
        last_received_at=NOW - timedelta(minutes=2),
        last_ts=NOW - timedelta(minutes=2),
        battery_pct=80.0,
        rssi_dbm=-70.0,
        readings_total=100,
        quarantined_total=0,
        last_quarantined_at=None,
        online=True,
        status_at=NOW - timedelta(days=1),
        window_readings=288,
        window_distinct_seq=288,
        window_seq_min=1,
        window_seq_max=288,
    )
    base.update(changes)
    return Observations(**base)  # type: ignore[arg-type]


def test_states() -> None:
    assert assess(_obs(), now=NOW, window=WINDOW).state == "ok"
    late = _obs(last_received_at=NOW - timedelta(minutes=30), last_ts=NOW - timedelta(minutes=30))
    assert assess(late, now=NOW, window=WINDOW).state == "late"
    backlog = _obs(last_received_at=NOW - timedelta(seconds=5), last_ts=NOW - timedelta(hours=3))
    assert assess(backlog, now=NOW, window=WINDOW).state == "recovering"
    gone = _obs(online=False, status_at=NOW - timedelta(minutes=1))
    assert assess(gone, now=NOW, window=WINDOW).state == "offline"
    back = _obs(online=False, status_at=NOW - timedelta(minutes=10))  # a message after the will
    assert assess(back, now=NOW, window=WINDOW).state == "ok"
    never = _obs(last_received_at=None, last_ts=None, readings_total=0)
    assert assess(never, now=NOW, window=WINDOW).state == "never_seen"


def test_completeness_and_warnings() -> None:
    gaps = assess(
        _obs(
            window_distinct_seq=80,
            window_seq_min=1,
            window_seq_max=100,
            battery_pct=12.0,
            rssi_dbm=-118.0,
            quarantined_total=10,
            readings_total=90,
        ),
        now=NOW,
        window=WINDOW,
    )
    assert gaps.completeness == 0.8
    assert gaps.quarantine_rate == 0.1
    assert gaps.warnings == (
        "battery 12%",
        "weak signal -118 dBm",
        "10% of messages quarantined",
        "only 80% of readings arrived",
    )
    no_seq = assess(
        _obs(window_seq_min=None, window_seq_max=None, window_readings=144), now=NOW, window=WINDOW
    )
    assert no_seq.completeness == 0.5  # 144 of the 288 five-minute readings in a day


async def test_health_end_to_end(db: str, mqtt_url: str, prefix: str) -> None:
    ids = {k: f"{prefix}-{k}" for k in ("ok", "backlog", "gone", "silent", "gappy")}
    async with await connect(db) as conn:
        await upsert(
            conn, [Device(i, "air_quality", firmware_version="1.8.2") for i in ids.values()]
        )
    now = datetime.now(UTC).replace(microsecond=0)

    def reading(seq: int, ts: datetime) -> bytes:
        return orjson.dumps({"ts": ts.isoformat(), "seq": seq, "pm25": 5.0, "battery_pct": 90})

    messages = [
        (telemetry_topic(ids["ok"]), reading(s, now - timedelta(minutes=5 * (3 - s))))
        for s in range(1, 4)
    ]
    backlog = [
        {
            "ts": (now - timedelta(hours=6) + timedelta(minutes=5 * s)).isoformat(),
            "seq": s,
            "pm25": 4.0,
        }
        for s in range(1, 30)
    ]
    messages.append((telemetry_topic(ids["backlog"]), orjson.dumps(backlog)))
    messages += [
        (telemetry_topic(ids["gappy"]), reading(s, now - timedelta(minutes=5 * (10 - s))))
        for s in (1, 2, 3, 6, 7, 8, 9, 10)
    ]
    messages.append((telemetry_topic(ids["gone"]), reading(1, now - timedelta(minutes=1))))
    async with running(config(db, mqtt_url)):
        await asyncio.to_thread(publish_all, mqtt_url, messages)
        await wait_for(lambda: sum(stored(db, prefix).values()) >= 41)  # 3 + 29 + 8 + 1
        # The 'gone' device drops its connection without DISCONNECT: the broker sends its will.
        await asyncio.to_thread(_connect_and_vanish, mqtt_url, ids["gone"])
        await wait_for(lambda: _statuses(db, ids["gone"]) >= 2)  # online, then the will
    async with await connect(db) as conn:
        report = {
            h.device_id: h for h in await fleet_health(conn, DEVICE_TYPES, now=datetime.now(UTC))
        }
        later = {
            h.device_id: h.state
            for h in await fleet_health(
                conn, DEVICE_TYPES, now=datetime.now(UTC) + timedelta(hours=1)
            )
        }
    assert report[ids["ok"]].state == "ok"
    assert report[ids["ok"]].battery_pct == 90
    assert report[ids["backlog"]].state == "recovering"
    assert report[ids["gone"]].state == "offline"
    assert report[ids["silent"]].state == "never_seen"
    assert report[ids["gappy"]].completeness == 0.8
    assert report[ids["gappy"]].firmware_version == "1.8.2"
    assert later[ids["ok"]] == "late"  # an hour of silence for a five-minute device


def _connect_and_vanish(mqtt_url: str, device_id: str) -> None:
    address = BrokerAddress.parse(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{device_id}")
    client.will_set(status_topic(device_id), b"offline", qos=1, retain=True)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(address.host, address.port, keepalive=5)
    client.loop_start()
    assert connected.wait(10)
    client.publish(status_topic(device_id), b"online", qos=1, retain=True).wait_for_publish(10)
    stop_loop(client)
    sock = client.socket()
    assert sock is not None
    sock.close()  # no DISCONNECT: a crash, a power cut, a lost radio link
    # Clear the retained status so that later tests on a shared broker do not receive it.
    cleaner = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"clean-{device_id}")
    cleaner.connect(address.host, address.port)
    cleaner.loop_start()
    time.sleep(1.0)
    cleaner.publish(status_topic(device_id), b"", qos=1, retain=True).wait_for_publish(10)
    cleaner.disconnect()
    stop_loop(cleaner)


def _statuses(db: str, device_id: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM device_status WHERE device_id = %s", (device_id,)
        ).fetchone()
    return int(row[0]) if row else 0
