"""The Pipeline dashboard's PromQL names only metrics a running ``civicpulse ingest`` exports."""

from __future__ import annotations

import os
import re
import socket
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from dashboards import boards
from tests.ingest_harness import wait_until
from tests.processes import Processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exported(port: int) -> set[str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body: str = response.read().decode()
    except OSError:
        return set()
    # Samples, and the series a declared family will have: a labelled counter has no sample
    # until its first label value (no quarantined message yet), but Prometheus knows its name.
    names = {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", body, flags=re.MULTILINE):
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}_{part}" for part in ("bucket", "sum", "count"))
    return names


@pytest.mark.mosquitto_only  # the broker's dropped count comes from Mosquitto's $SYS topics
def test_every_metric_in_the_promql_is_exported(
    db: str, mqtt_url: str, tmp_path: Path, processes: Processes
) -> None:
    used = {
        name
        for board in boards()
        for _, query in board.prom()
        for name in re.findall(r"\bcivicpulse_[a-z0-9_]+", query.expr)
    }
    assert len(used) >= 10
    port = _free_port()
    env = {
        **os.environ,
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_MQTT_PROTOCOL": os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5"),
        "CIVICPULSE_INGEST_CLIENT_ID": f"test-ingest-{uuid.uuid4().hex[:10]}",
        "CIVICPULSE_INGEST_SESSION_EXPIRY_S": "30",
        "CIVICPULSE_INGEST_METRICS_PORT": str(port),
    }
    log = tmp_path / "ingest.log"
    process = processes.start([sys.executable, "-m", "civicpulse.cli", "ingest"], env=env, log=log)
    # Every name appears once ingest runs; the broker's dropped count once Mosquitto has
    # published its $SYS statistics (every few seconds).
    wait_until(
        lambda: used <= _exported(port) or process.poll() is not None,
        60,
        "every metric the dashboard uses on ingest's /metrics",
    )
    assert process.poll() is None, log.read_text()
    assert used <= _exported(port), sorted(used - _exported(port))
