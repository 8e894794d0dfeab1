"""Nothing lost, nothing duplicated: ingest killed, stopped, database and broker restarted.

These tests own their Mosquitto (real, started by the test) so that they may restart it, and so
that its queue limit is raised: the machine's default broker drops a backlog beyond 1000 messages.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from civicpulse.embedded import EmbeddedBroker, EmbeddedPostgres
from civicpulse.embedded.postgres import PgStopMode
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage.migrate import migrate
from tests.ingest_harness import config, register, running, stored, wait_for

pytestmark = pytest.mark.slow


def _fleet_messages(
    prefix: str, count: int, devices: int = 30
) -> tuple[Fleet, list[tuple[str, bytes]]]:
    per = devices // 3
    fleet = Fleet.create(air_quality=per, parking_bay=per, smart_meter=per, prefix=prefix)
    rounds = count // devices
    start = datetime.now(UTC) - timedelta(minutes=rounds + 60)
    return fleet, list(fleet.messages(start=start, count=count))


def _ingest_process(db: str, mqtt_url: str, client_id: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_INGEST_CLIENT_ID": client_id,
        "CIVICPULSE_INGEST_METRICS_PORT": "0",
        "CIVICPULSE_INGEST_SESSION_EXPIRY_S": "600",
    }
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "civicpulse.cli", "ingest"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_log(log: Path, text: str, occurrences: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count(text) < occurrences:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not logged {occurrences} times:\n{log.read_text()}")
        time.sleep(0.05)


def _total(db: str, prefix: str) -> int:
    return sum(stored(db, prefix).values())


def _wait_rows(db: str, prefix: str, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        total = _total(db, prefix)
        if total >= at_least or time.monotonic() > deadline:
            return total
        time.sleep(0.1)


def _assert_complete(db: str, prefix: str, fleet: Fleet, rounds: int) -> None:
    """Every device has every seq 1..rounds exactly once."""
    with psycopg.connect(db) as conn:
        for table in ("air_quality_readings", "parking_bay_readings", "smart_meter_readings"):
            rows = conn.execute(
                f"SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq) FROM {table}"
                " WHERE device_id LIKE %s GROUP BY 1",
                (f"{prefix}%",),
            ).fetchall()
            assert len(rows) == len(fleet.devices) // 3
            for _device, count, distinct, low, high in rows:
                assert (count, distinct, low, high) == (rounds, rounds, 1, rounds)


def test_sigkill_mid_stream_loses_nothing(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path
) -> None:
    count = 30_000
    fleet, messages = _fleet_messages(prefix, count)
    asyncio.run(register(db, fleet))
    client_id = f"test-kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    first = _ingest_process(db, own_broker.url, client_id, log)
    try:
        _wait_log(log, "subscribed to ", 1)  # the persistent session queues from now on
        publisher = threading.Thread(target=publish_all, args=(own_broker.url, messages))
        publisher.start()
        assert _wait_rows(db, prefix, count // 5, 60) >= count // 5
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = _total(db, prefix)
        assert killed_at < count, "the kill must land mid-stream"
        second = _ingest_process(db, own_broker.url, client_id, log)
        try:
            _wait_log(log, "subscribed to ", 2)
            publisher.join(120)
            assert _wait_rows(db, prefix, count, 120) == count
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))
    assert "ingest stopped" in log.read_text()


def test_sigterm_drains_and_exits_cleanly(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path
) -> None:
    count = 12_000
    fleet, messages = _fleet_messages(prefix, count)
    asyncio.run(register(db, fleet))
    client_id = f"test-term-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    process = _ingest_process(db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 1)
    publish_all(own_broker.url, messages)
    _wait_rows(db, prefix, count // 3, 60)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    text = log.read_text()
    assert "ingest stopped" in text
    # What it had received it committed and acknowledged; the rest waits in the session.
    restarted = _ingest_process(db, own_broker.url, client_id, log)
    try:
        _wait_log(log, "subscribed to ", 2)
        assert _wait_rows(db, prefix, count, 90) == count
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(30) == 0
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))


@pytest.mark.parametrize("mode", ["immediate", "fast"])
async def test_database_restart_mid_stream_loses_nothing(
    own_postgres: EmbeddedPostgres, own_broker: EmbeddedBroker, prefix: str, mode: PgStopMode
) -> None:
    db = await asyncio.to_thread(own_postgres.create_database, "civicpulse")
    await migrate(db, timescaledb="off")
    count = 15_000
    fleet, messages = _fleet_messages(prefix, count)
    await register(db, fleet)
    async with running(config(db, own_broker.url)) as ingest:
        publisher = asyncio.create_task(asyncio.to_thread(publish_all, own_broker.url, messages))
        await wait_for(lambda: ingest.metrics.messages_acked > count // 5)
        await asyncio.to_thread(own_postgres.stop, mode=mode)  # "immediate" is a crash
        await asyncio.sleep(2.0)  # ingest keeps receiving but must not acknowledge
        acked_while_down = ingest.metrics.messages_acked
        await asyncio.sleep(1.0)
        assert ingest.metrics.messages_acked == acked_while_down
        await asyncio.to_thread(own_postgres.start)
        await publisher
        await wait_for(lambda: ingest.metrics.messages_acked >= count, seconds=120)
        assert ingest.metrics.db_errors > 0
    assert _total(db, prefix) == count
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))


async def test_broker_restart_reconnects_and_resumes(
    db: str, own_broker: EmbeddedBroker, prefix: str
) -> None:
    count = 6_000
    fleet, messages = _fleet_messages(prefix, count)
    await register(db, fleet)
    half = count // 2
    async with running(config(db, own_broker.url)) as ingest:
        await asyncio.to_thread(publish_all, own_broker.url, messages[:half])
        await wait_for(lambda: ingest.metrics.messages_acked >= half // 2)
        await asyncio.to_thread(own_broker.restart)
        assert await ingest.wait_ready(60)
        await asyncio.to_thread(publish_all, own_broker.url, messages[half:])
        await wait_for(lambda: _total(db, prefix) >= count, seconds=120)
        assert ingest.metrics.mqtt_connects >= 2
    assert _total(db, prefix) == count
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))
