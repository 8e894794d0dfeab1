"""Ingest workers on a shared subscription: supervised restarts, one metrics endpoint, and no
message stranded in a session when the number of workers changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from civicpulse.embedded import EmbeddedBroker
from ingest.metrics import Metrics, MetricsCollector, registry_for
from ingest.supervisor import merge_metrics, plan, supervise
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from tests.ingest_harness import Publisher, register, stored, wait_for, wait_until

if TYPE_CHECKING:  # the fixture's module is a plugin: pytest imports it, to rewrite its asserts
    from tests.processes import Processes

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.processes"]


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
    processes: Processes,
    db: str,
    broker: EmbeddedBroker,
    client_id: str,
    log: Path,
    *args: str,
    metrics_port: int = 0,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": broker.url,
        "CIVICPULSE_INGEST_CLIENT_ID": client_id,
        "CIVICPULSE_INGEST_METRICS_PORT": str(metrics_port),
    }
    command = [sys.executable, "-m", "civicpulse.cli", "ingest", *args]
    return processes.start(command, env=env, log=log)


def _logged(log: Path, text: str, times: int = 1) -> Callable[[], bool]:
    return lambda: log.read_text(errors="replace").count(text) >= times


def _rows(db: str, prefix: str) -> int:
    return sum(stored(db, prefix).values())


def _children(pid: int) -> list[int]:
    return [
        int(c)
        for t in Path(f"/proc/{pid}/task").glob("*")
        for c in (t / "children").read_text().split()
    ]


def _metrics_ports(count: int) -> int:
    """A port free now with the next ``count - 1`` also free, below the ephemeral range.

    Worker ``i`` serves metrics on the supervisor's port + 1 + i and binds it again when it is
    restarted after a crash; in the ephemeral range, any outgoing connection on the host may
    have taken that port meanwhile, and the worker then fails to start until it is freed.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        base = random.randrange(10_000, low - count)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports below {low}")


def _worker_index(log: Path, pid: int) -> int:
    """Which worker (``<client id>-<i>``) runs as ``pid``, from the supervisor's log."""
    found = re.search(rf"worker \S+-(\d+) started \(pid {pid}\)", log.read_text())
    assert found is not None, log.read_text()
    return int(found[1])


def _scrape(port: int, name: str) -> float:
    """The sum of a metric's samples on a metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: str = response.read().decode()
    return sum(
        float(line.split()[-1])
        for line in body.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def test_workers_scale_up_and_down_without_stranding_messages(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path, processes: Processes
) -> None:
    fleet = Fleet.create(air_quality=10, parking_bay=10, smart_meter=10, prefix=prefix)
    asyncio.run(register(db, fleet))
    start = datetime.now(UTC) - timedelta(hours=6)
    messages = list(fleet.messages(start=start, count=30 * 240))
    first, second, third = messages[:4000], messages[4000:7000], messages[7000:]
    log = tmp_path / "ingest.log"
    client_id = f"cp-{prefix}"
    port = _metrics_ports(1 + 2)  # the supervisor's, then one per worker

    supervisor = _start(
        processes, db, own_broker, client_id, log, "--workers", "2", metrics_port=port
    )
    wait_until(_logged(log, "subscribed to $share/civicpulse-ingest/", 2), 90, "2 workers up")
    # The rest of `first` is published once a worker is down: its session must queue its share.
    with Publisher(own_broker.url, first, pause_after=2000) as publisher:
        wait_until(lambda: _rows(db, prefix) >= 1000, 90, "1000 rows stored")
        victim = _children(supervisor.pid)[0]
        index = _worker_index(log, victim)
        os.kill(victim, signal.SIGKILL)  # a worker crashes mid-stream; the supervisor restarts it
        assert _rows(db, prefix) < len(first), "the kill must land mid-stream"
        publisher.resume()
        publisher.join()
    wait_until(_logged(log, "exited with -9; restarting in"), 30, "the supervisor saw the crash")
    wait_until(_logged(log, "subscribed to $share/civicpulse-ingest/", 3), 90, "worker restarted")
    wait_until(lambda: _rows(db, prefix) == len(first), 90, f"{len(first)} rows stored")
    # The restarted worker stored what its session kept for it (its counters start at zero).
    assert _scrape(port + 1 + index, "civicpulse_ingest_messages_acked_total") > 0
    rows = _scrape(port, "civicpulse_ingest_rows_written_total")
    assert rows >= 4000 - 2500  # the killed worker's own counters restarted from zero
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0

    # Ingest is down: the broker queues round-robin into both workers' sessions.
    publish_all(own_broker.url, second)
    # Scale down to one process: it must drain and end both worker sessions first.
    single = _start(processes, db, own_broker, client_id, log)
    wait_until(_logged(log, "retired 2 sessions holding"), 90, "the worker sessions retired")
    wait_until(lambda: _rows(db, prefix) == 7000, 90, "7000 rows stored")
    wait_until(_logged(log, "subscribed to civicpulse/v1/devices/+/telemetry"), 90, "subscribed")
    publish_all(own_broker.url, third)
    wait_until(lambda: _rows(db, prefix) == len(messages), 90, f"{len(messages)} rows stored")
    single.send_signal(signal.SIGTERM)
    assert single.wait(60) == 0
    text = log.read_text()
    drained = int(text.split("retired 2 sessions holding ")[1].split()[0])
    assert drained == 3000  # exactly what was published while ingest was down
    assert _rows(db, prefix) == len(messages)


# A stand-in worker for the supervisor's own logic: it marks itself ready (its SIGTERM handling
# set) with a file named after its pid in argv[1], then behaves as argv[2] says.
_WORKER = """
import os, pathlib, signal, sys, time
ready, behaviour = pathlib.Path(sys.argv[1]), sys.argv[2]
if behaviour == "crashes":
    sys.exit(3)
if behaviour == "cli":  # civicpulse.cli, stopped before ingest took the signal over: 128 + 15
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
if behaviour == "fails":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
(ready / str(os.getpid())).touch()
time.sleep(30)
"""


def _supervise(ready: Path, behaviour: str, workers: int) -> asyncio.Task[int]:
    command = [sys.executable, "-c", _WORKER, str(ready), behaviour]
    return asyncio.create_task(
        supervise(
            plan("stand-in", None, workers, 0),
            command=command,
            metrics_host="127.0.0.1",
            metrics_port=0,
        )
    )


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [("killed", 0), ("cli", 0), ("fails", 1)],
    ids=["killed-by-sigterm", "cli-stopped-status", "failed"],
)
async def test_supervisor_stopped_while_its_workers_start(
    tmp_path: Path, behaviour: str, code: int
) -> None:
    """A worker still starting ends on SIGTERM before it received anything: killed by the
    signal, or with the command line's "stopped by SIGTERM" status. Both are clean stops; a
    worker failing as it stops is not."""
    supervisor = _supervise(tmp_path, behaviour, workers=2)
    await wait_for(lambda: len(list(tmp_path.iterdir())) == 2)
    os.kill(os.getpid(), signal.SIGTERM)  # to the supervisor, running in this event loop
    assert await asyncio.wait_for(supervisor, 30) == code


async def test_supervisor_stopped_while_a_worker_waits_to_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.supervisor")
    supervisor = _supervise(tmp_path, "crashes", workers=1)
    await wait_for(lambda: "restarting in" in caplog.text)
    os.kill(os.getpid(), signal.SIGTERM)  # the first restart waits 0.5 to 1 s
    assert await asyncio.wait_for(supervisor, 30) == 0
    assert "not restarted: stopping" in caplog.text, "the stop must land while it waits"
    assert caplog.text.count("started (pid") == 1


def test_workers_stop_when_the_supervisor_is_killed(
    db: str, own_broker: EmbeddedBroker, prefix: str, tmp_path: Path, processes: Processes
) -> None:
    log = tmp_path / "ingest.log"
    supervisor = _start(processes, db, own_broker, f"cp-{prefix}", log, "--workers", "2")
    wait_until(_logged(log, "subscribed to $share/civicpulse-ingest/", 2), 90, "2 workers up")
    workers = _children(supervisor.pid)
    assert len(workers) == 2
    supervisor.kill()  # SIGKILL: no chance to forward anything
    supervisor.wait(10)
    wait_until(lambda: not any(_alive(pid) for pid in workers), 30, "workers gone")
    assert log.read_text().count("ingest stopped") >= 2  # they drained and exited cleanly


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
