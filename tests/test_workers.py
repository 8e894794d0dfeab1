"""Ingest workers on a shared subscription: supervised restarts, one metrics endpoint, and no
message stranded in a session when the number of workers changes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from civicpulse.embedded import EmbeddedBroker, free_port
from ingest.metrics import Metrics, MetricsCollector, registry_for
from ingest.supervisor import merge_metrics
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from tests.ingest_harness import register, stored

pytestmark = pytest.mark.slow


def test_merge_metrics_sums_workers_and_reports_the_broker_once() -> None:
    def worker_text(rows: int, seconds: float) -> str:
        metrics = Metrics(messages_acked=rows, broker_dropped=7)
        metrics.rows_written["parking_bay"] += rows
        metrics.observe_batch(seconds)
        return generate_latest(registry_for(MetricsCollector(metrics))).decode()

    class Merged(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from merge_metrics([worker_text(3, 0.004), worker_text(4, 0.3)])

    text = generate_latest(registry_for(Merged())).decode()
    assert "civicpulse_ingest_messages_acked_total 7.0" in text
    assert 'civicpulse_ingest_rows_written_total{device_type="parking_bay"} 7.0' in text
    assert 'civicpulse_ingest_batch_seconds_bucket{le="0.005"} 1.0' in text
    assert 'civicpulse_ingest_batch_seconds_bucket{le="+Inf"} 2.0' in text
    assert "civicpulse_broker_dropped_messages 7.0" in text  # one broker, read by both workers
    # Each family once, its samples together (the exposition format requires it).
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
    assert "civicpulse_ingest_rows_written_total" in types


def _start(
    db: str, broker: EmbeddedBroker, client_id: str, log: Path, *args: str, metrics_port: int = 0
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": broker.url,
        "CIVICPULSE_INGEST_CLIENT_ID": client_id,
        "CIVICPULSE_INGEST_METRICS_PORT": str(metrics_port),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "civicpulse.cli", "ingest", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(condition, seconds: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    return [
        int(c)
        for t in Path(f"/proc/{pid}/task").glob("*")
        for c in (t / "children").read_text().split()
    ]


def test_workers_scale_up_and_down_without_stranding_messages(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path
) -> None:
    fleet = Fleet.create(air_quality=10, parking_bay=10, smart_meter=10, prefix=prefix)
    asyncio.run(register(db, fleet))
    start = datetime.now(UTC) - timedelta(hours=6)
    messages = list(fleet.messages(start=start, count=30 * 240))
    first, second, third = messages[:4000], messages[4000:7000], messages[7000:]
    log = tmp_path / "ingest.log"
    client_id = f"cp-{prefix}"
    port = free_port()

    supervisor = _start(db, own_broker, client_id, log, "--workers", "2", metrics_port=port)
    _wait(lambda: log.read_text().count("subscribed to $share/civicpulse-ingest/") >= 2)
    publish_all(own_broker.url, first)
    _wait(lambda: sum(stored(db, prefix).values()) >= 1000)
    victim = _children(supervisor.pid)[0]
    os.kill(victim, signal.SIGKILL)  # a worker crashes mid-stream; the supervisor restarts it
    _wait(lambda: sum(stored(db, prefix).values()) == 4000)
    assert "restarting in" in log.read_text()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    rows = sum(
        float(line.split()[-1])
        for line in body.splitlines()
        if line.startswith("civicpulse_ingest_rows_written_total{")
    )
    assert rows >= 4000 - 2500  # the killed worker's own counters restarted from zero
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0

    # Ingest is down: the broker queues round-robin into both workers' sessions.
    publish_all(own_broker.url, second)
    # Scale down to one process: it must drain and end both worker sessions first.
    single = _start(db, own_broker, client_id, log)
    try:
        _wait(lambda: "retired 2 sessions holding" in log.read_text())
        _wait(lambda: sum(stored(db, prefix).values()) == 7000)
        _wait(lambda: log.read_text().count("subscribed to civicpulse/v1/devices/+/telemetry") >= 1)
        publish_all(own_broker.url, third)
        _wait(lambda: sum(stored(db, prefix).values()) == len(messages))
    finally:
        single.send_signal(signal.SIGTERM)
        assert single.wait(60) == 0
    text = log.read_text()
    drained = int(text.split("retired 2 sessions holding ")[1].split()[0])
    assert drained == 3000  # exactly what was published while ingest was down
    assert sum(stored(db, prefix).values()) == len(messages)


def test_workers_stop_when_the_supervisor_is_killed(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "ingest.log"
    supervisor = _start(db, own_broker, f"cp-{prefix}", log, "--workers", "2")
    _wait(lambda: log.read_text().count("subscribed to $share/civicpulse-ingest/") >= 2)
    workers = _children(supervisor.pid)
    assert len(workers) == 2
    supervisor.kill()  # SIGKILL: no chance to forward anything
    supervisor.wait(10)
    _wait(lambda: not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers), 30)
    assert log.read_text().count("ingest stopped") >= 2  # they drained and exited cleanly


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
