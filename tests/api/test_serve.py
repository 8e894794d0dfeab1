"""``civicpulse api`` really serves over HTTP: a subprocess on a free port, with worker
processes, answering until it is stopped."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx

from civicpulse.embedded import free_port
from tests.api.city import City
from tests.cli_harness import cli_env
from tests.processes import Processes


def _wait_for(url: str, seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_civicpulse_api_serves(city: City, processes: Processes, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "api.log"
    env = cli_env({"CIVICPULSE_DATABASE_URL": city.url, "CIVICPULSE_LOG_LEVEL": "INFO"})
    process = processes.start(
        [sys.executable, "-m", "civicpulse.cli", "api", "--port", str(port), "--workers", "2"],
        env=env,
        log=log,
    )
    base = f"http://127.0.0.1:{port}"
    zones = _wait_for(f"{base}/v1/zones")
    assert zones.status_code == 200, zones.text
    assert {f["id"] for f in zones.json()["features"]} == {"ward-a", "ward-b", "pz-a1"}
    keyed = httpx.get(f"{base}/v1/me", headers={"X-API-Key": city.keys["officer"]}, timeout=5)
    assert keyed.json()["scope"] == "officer"
    missing = httpx.get(f"{base}/v1/devices/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "server" not in missing.headers  # no server banner
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0  # a graceful stop: workers close their pools
    text = log.read_text()
    assert text.count("Application shutdown complete") == 2
    assert "GET /v1/zones 200" in text  # our access log, from a worker
    assert city.keys["officer"] not in text
    assert "Traceback" not in text, text
