"""The API's ``/metrics``: requests counted by route template (never a path with a token),
outside ``/v1`` and the OpenAPI document, and summed over uvicorn workers."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from civicpulse.embedded import free_port
from tests.api.city import City
from tests.cli_harness import cli_env
from tests.processes import Processes


def _requests(text: str) -> dict[tuple[str, str, str], float]:
    """``(method, route, status) -> count`` from an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "civicpulse_api_requests_total":
                labels = sample.labels
                found[(labels["method"], labels["route"], labels["status"])] = sample.value
    return found


async def test_requests_are_counted_by_route_template(api_client: httpx.AsyncClient) -> None:
    before = _requests((await api_client.get("/metrics")).text)
    for _ in range(3):
        assert (await api_client.get("/v1/zones")).status_code == 200
    token = "tok_" + "x" * 40
    gone = await api_client.get(f"/v1/alerts/subscriptions/{token}")
    assert gone.status_code == 404
    missing = await api_client.get("/nowhere/at/all")
    assert missing.status_code == 404
    answer = await api_client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = _requests(answer.text)

    def delta(key: tuple[str, str, str]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta(("GET", "/v1/zones", "200")) == 3
    assert delta(("GET", "/v1/alerts/subscriptions/{token}", "404")) == 1
    assert delta(("GET", "(no route)", "404")) == 1
    assert token not in answer.text  # templates only: no token ever becomes a label
    assert "civicpulse_api_request_seconds_bucket" in answer.text
    document = (await api_client.get("/v1/openapi.json")).json()
    assert "/metrics" not in document["paths"]


def test_metrics_sum_over_workers(city: City, processes: Processes, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "api.log"
    env = cli_env({"CIVICPULSE_DATABASE_URL": city.url, "CIVICPULSE_LOG_FORMAT": "json"})
    processes.start(
        [sys.executable, "-m", "civicpulse.cli", "api", "--port", str(port), "--workers", "2"],
        env=env,
        log=log,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/metrics", timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.2)
    sent = 0
    # A new connection each: the workers accept them in turn, as the kernel hands them out.
    while len(_serving_pids(log)) < 2 and sent < 200:
        for _ in range(10):
            assert httpx.get(f"{base}/v1/zones", timeout=10).status_code == 200
        sent += 10
    for _ in range(6):
        text = httpx.get(f"{base}/metrics", timeout=10).text
        # The multiprocess collector (no *_created samples) adds up every worker's file...
        assert "civicpulse_api_requests_created" not in text
        # ...so whichever worker answers reports all the requests.
        assert _requests(text)[("GET", "/v1/zones", "200")] == sent


def _serving_pids(log: Path) -> set[int]:
    """Processes that logged answering ``GET /v1/zones`` (JSON log lines carry the pid)."""
    pids = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["message"].startswith("GET /v1/zones 200"):
                pids.add(int(entry["pid"]))
    return pids
