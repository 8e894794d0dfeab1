"""Nothing lost, nothing duplicated: ingest killed, stopped, database and broker restarted.

These tests own their Mosquitto (real, started by the test) so that they may restart it, and so
that its queue limit is raised: the machine's default broker drops a backlog beyond 1000 messages.

Every fault lands mid-stream, and the test asserts that it did: the publisher pauses part-way
(``Publisher(pause_after=…)``) until the fault has landed, so work certainly remains for the
recovery to do. A fault that lands after everything is stored proves nothing.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from civicpulse.embedded import EmbeddedBroker, EmbeddedPostgres
from civicpulse.embedded.postgres import PgStopMode
from devices.model import DeviceType
from devices.types import DEVICE_TYPES
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage.migrate import migrate
from tests.ingest_harness import (
    Publisher,
    config,
    register,
    running,
    stored,
    wait_for,
    wait_until,
)

if TYPE_CHECKING:  # the fixture's module is a plugin: pytest imports it, to rewrite its asserts
    from tests.processes import Processes

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.processes"]

_STOPPED = re.compile(r"ingest stopped: (\d+) messages received, (\d+) acknowledged")


def _fleet_messages(
    prefix: str, count: int, devices: int = 30
) -> tuple[Fleet, list[tuple[str, bytes]]]:
    per = devices // 3
    fleet = Fleet.create(air_quality=per, parking_bay=per, smart_meter=per, prefix=prefix)
    rounds = count // devices
    start = datetime.now(UTC) - timedelta(minutes=rounds + 60)
    return fleet, list(fleet.messages(start=start, count=count))


def _ingest_process(
    processes: Processes,
    db: str,
    mqtt_url: str,
    client_id: str,
    log: Path,
    **settings: str,
) -> subprocess.Popen[bytes]:
    env = {
        **{f"CIVICPULSE_{k.upper()}": v for k, v in settings.items()},
        **os.environ,
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_INGEST_CLIENT_ID": client_id,
        "CIVICPULSE_INGEST_METRICS_PORT": "0",
        "CIVICPULSE_INGEST_SESSION_EXPIRY_S": "600",
    }
    return processes.start([sys.executable, "-m", "civicpulse.cli", "ingest"], env=env, log=log)


def _wait_log(log: Path, text: str, occurrences: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count(text) < occurrences:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not logged {occurrences} times:\n{log.read_text()}")
        time.sleep(0.05)


def _stopped(log: Path) -> list[tuple[int, int]]:
    """(received, acknowledged) of each ingest run in ``log`` that stopped, in order."""
    return [(int(r), int(a)) for r, a in _STOPPED.findall(log.read_text(errors="replace"))]


def _total(db: str, prefix: str) -> int:
    return sum(stored(db, prefix).values())


def _wait_rows(db: str, prefix: str, at_least: int, timeout: float) -> int:
    wait_until(lambda: _total(db, prefix) >= at_least, timeout, f"{at_least} rows stored")
    return _total(db, prefix)


def _assert_complete(db: str, prefix: str, fleet: Fleet, rounds: int) -> None:
    """Every device has every seq 1..rounds exactly once, and the rollups and liveness state
    ingest maintains in the write transaction count each of them once."""
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
    _assert_derived_state(db, prefix)


def _assert_derived_state(db: str, prefix: str) -> None:
    """``<prefix>_hourly``/``_daily`` and ``device_last_seen`` equal what the stored rows imply.

    In plain PostgreSQL mode ingest folds each inserted row into them in the write transaction;
    a redelivered message inserts no row, so it must change neither (no double count).
    """
    # The rollups bucket in UTC (storage.connection sets the session time zone).
    with psycopg.connect(db, options="-c TimeZone=UTC") as conn:
        for name in ("air_quality", "parking_bay", "smart_meter"):
            for grain, unit in (("hourly", "hour"), ("daily", "day")):
                _assert_rollup(conn, DEVICE_TYPES[name], grain, unit, prefix)
        _assert_last_seen(conn, prefix)


def _assert_rollup(
    conn: psycopg.Connection[tuple[object, ...]],
    device_type: DeviceType,
    grain: str,
    unit: str,
    prefix: str,
) -> None:
    rollup = f"{device_type.prefix}_{grain}"
    stats = ", ".join(f"{f}_n, {f}_sum, {f}_min, {f}_max, {f}_avg" for f in device_type.columns)
    rolled = conn.execute(
        f"SELECT bucket, device_id, samples, {stats} FROM {rollup}"
        " WHERE device_id LIKE %s ORDER BY 1, 2",
        (f"{prefix}%",),
    ).fetchall()
    values = [
        f"({f.name})::int::double precision" if f.kind == "bool" else f.name
        for f in device_type.fields
    ]
    aggregates = ", ".join(f"count({v}), sum({v}), min({v}), max({v}), avg({v})" for v in values)
    direct = conn.execute(
        f"SELECT date_trunc('{unit}', ts), device_id, count(*), {aggregates}"
        f" FROM {device_type.table} WHERE device_id LIKE %s GROUP BY 1, 2 ORDER BY 1, 2",
        (f"{prefix}%",),
    ).fetchall()
    assert rolled, f"{rollup} is empty"
    assert [r[:3] for r in rolled] == [r[:3] for r in direct], rollup  # bucket, device, samples
    for got, want in zip(rolled, direct, strict=True):
        assert all(map(_close, got[3:], want[3:])), f"{rollup} {got[:2]}: {got[3:]} != {want[3:]}"


def _close(a: object, b: object) -> bool:
    """Equal, but for the last bits of float sums taken in another order."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _assert_last_seen(conn: psycopg.Connection[tuple[object, ...]], prefix: str) -> None:
    """Per device: ``readings`` is its row count, ``last_ts`` its latest ts, ``last_seq`` that
    reading's seq."""
    seen = conn.execute(
        "SELECT device_id, readings, last_ts, last_seq FROM device_last_seen"
        " WHERE device_id LIKE %s ORDER BY 1",
        (f"{prefix}%",),
    ).fetchall()
    implied = conn.execute(
        "SELECT device_id, count(*), max(ts), (array_agg(seq ORDER BY ts DESC))[1] FROM ("
        " SELECT device_id, ts, seq FROM air_quality_readings"
        " UNION ALL SELECT device_id, ts, seq FROM parking_bay_readings"
        " UNION ALL SELECT device_id, ts, seq FROM smart_meter_readings"
        ") r WHERE device_id LIKE %s GROUP BY 1 ORDER BY 1",
        (f"{prefix}%",),
    ).fetchall()
    assert implied
    assert seen == implied


def test_sigkill_mid_stream_loses_nothing(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path, processes: Processes
) -> None:
    count = 30_000
    fleet, messages = _fleet_messages(prefix, count)
    asyncio.run(register(db, fleet))
    client_id = f"test-kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    first = _ingest_process(processes, db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 1)  # the persistent session queues from now on
    with Publisher(own_broker.url, messages, pause_after=count // 2) as publisher:
        _wait_rows(db, prefix, count // 5, 60)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        killed_at = _total(db, prefix)
        assert killed_at < count, "the kill must land mid-stream"
        # Redeliver what was certainly stored: a kill between commit and acknowledgement does
        # so, but that window is too narrow to hit on purpose. Nothing may be counted twice.
        # Before the rest, so that the last new readings stored come after them (a stopping
        # ingest leaves what it has not started on to the next session).
        redelivered = 1000
        publish_all(own_broker.url, messages[:redelivered], client_id=f"retry-{client_id}")
        publisher.resume()
        publisher.join()
    second = _ingest_process(processes, db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 2)
    assert _wait_rows(db, prefix, count, 120) == count
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
    [(received, acked)] = _stopped(log)  # the killed run logged nothing
    assert received == acked >= count - killed_at + redelivered
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))


def test_sigterm_drains_and_exits_cleanly(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path, processes: Processes
) -> None:
    count = 12_000
    fleet, messages = _fleet_messages(prefix, count)
    asyncio.run(register(db, fleet))
    client_id = f"test-term-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    process = _ingest_process(processes, db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 1)
    # The rest is published once the first process has gone, so that the restart certainly has
    # something to recover (a stopping ingest still commits the batch it was writing).
    with Publisher(own_broker.url, messages, pause_after=count // 2) as publisher:
        _wait_rows(db, prefix, count // 5, 60)
        at_signal = _total(db, prefix)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert at_signal < count, "the signal must land mid-stream"
        stopped_at = _total(db, prefix)
        # What it had received it committed and acknowledged, and nothing more.
        assert _stopped(log) == [(stopped_at, stopped_at)]
        publisher.resume()
        publisher.join()
    # The rest waited in the session: the restarted process stores exactly that.
    restarted = _ingest_process(processes, db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 2)
    assert _wait_rows(db, prefix, count, 90) == count
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(30) == 0
    remainder = count - stopped_at
    assert remainder > 0
    assert _stopped(log)[1] == (remainder, remainder)
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))


def test_sigterm_with_a_backlog_stops_after_its_batch(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path, processes: Processes
) -> None:
    """A broker with a backlog refills ingest's queue as fast as it acknowledges: a stopping
    ingest must not drain the whole backlog (a million messages would outlast a container's
    stop timeout). It finishes the batch it was writing when told to stop; the rest waits in the
    session."""
    count, window = 19_980, 200  # 666 rounds of 30 devices
    fleet, messages = _fleet_messages(prefix, count)
    asyncio.run(register(db, fleet))
    client_id = f"test-backlog-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    small = {"ingest_receive_maximum": str(window), "ingest_batch_max_rows": str(window)}
    first = _ingest_process(processes, db, own_broker.url, client_id, log, **small)
    _wait_log(log, "subscribed to ", 1)  # the persistent session exists from here on
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    with Publisher(own_broker.url, messages) as publisher:
        publisher.resume()
        publisher.join()  # the whole backlog waits in the session
    second = _ingest_process(processes, db, own_broker.url, client_id, log, **small)
    at_signal = _wait_rows(db, prefix, 1_000, 60)
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
    stopped_at = _total(db, prefix)
    # The batch it was writing when the signal landed, and those committed between counting and
    # the signal (each at most `window` messages), however much it held: Mosquitto 2.0.11 sends
    # past Receive Maximum on a resumed session. Loops that drained what they held, or the whole
    # backlog, wrote thousands more.
    assert stopped_at - at_signal < count // 4, (at_signal, stopped_at)
    assert _stopped(log)[-1] == (stopped_at, stopped_at)
    third = _ingest_process(processes, db, own_broker.url, client_id, log, **small)
    assert _wait_rows(db, prefix, count, 120) == count
    third.send_signal(signal.SIGTERM)
    assert third.wait(30) == 0
    _assert_complete(db, prefix, fleet, count // len(fleet.devices))


def test_sigterm_during_a_database_outage_exits_promptly_and_loses_nothing(
    own_postgres: EmbeddedPostgres,
    own_broker: EmbeddedBroker,
    prefix: str,
    tmp_path: Path,
    processes: Processes,
) -> None:
    db = own_postgres.create_database("civicpulse")
    asyncio.run(migrate(db, timescaledb="off"))
    count = 6_000
    fleet, messages = _fleet_messages(prefix, count)
    asyncio.run(register(db, fleet))
    client_id = f"test-outage-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    first = _ingest_process(processes, db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 1)
    with Publisher(own_broker.url, messages, pause_after=count // 2) as publisher:
        _wait_rows(db, prefix, count // 5, 60)
        own_postgres.stop(mode="immediate")  # a crash, mid-stream
        publisher.resume()  # the rest arrives during the outage
        _wait_log(log, "database write failed", 1)  # ingest holds messages it cannot commit
        first.send_signal(signal.SIGTERM)
        # Promptly: without the stop it would retry until the database came back.
        assert first.wait(10) == 0, "ingest must notice the stop while it waits to retry"
        publisher.join()
    held = re.findall(r"stopping during a database outage: (\d+) messages", log.read_text())
    assert len(held) == 1 and int(held[0]) > 0, log.read_text()
    [(received, acked)] = _stopped(log)
    assert acked < received  # what it held is not acknowledged: the broker keeps it
    own_postgres.start()
    before_outage = _total(db, prefix)
    assert before_outage < count
    second = _ingest_process(processes, db, own_broker.url, client_id, log)
    _wait_log(log, "subscribed to ", 2)
    assert _wait_rows(db, prefix, count, 90) == count
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0
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
        with Publisher(own_broker.url, messages, pause_after=count // 2) as publisher:
            await wait_for(lambda: ingest.metrics.messages_acked > count // 5)
            await asyncio.to_thread(own_postgres.stop, mode=mode)  # "immediate" is a crash
            publisher.resume()  # the rest arrives during the outage
            # Ingest keeps receiving but must not acknowledge: not when it notices the outage,
            # nor through two more failed attempts.
            await wait_for(lambda: ingest.metrics.db_errors >= 1)
            acked_while_down = ingest.metrics.messages_acked
            assert acked_while_down < count, "the outage must land mid-stream"
            await wait_for(lambda: ingest.metrics.db_errors >= 3)
            assert ingest.metrics.messages_acked == acked_while_down
            await asyncio.to_thread(own_postgres.start)
            await asyncio.to_thread(publisher.join)
        await wait_for(lambda: ingest.metrics.messages_acked >= count, seconds=120)
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
