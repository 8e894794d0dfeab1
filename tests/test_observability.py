"""Observability: the alert service's and the scheduler's Prometheus endpoints, JSON logs, and
``civicpulse doctor`` checking each service's endpoint and TimescaleDB's background jobs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alerts.service import AlertService, ServiceConfig
from civicpulse.cli.doctor_services import highlights, parse_endpoints
from civicpulse.cli.logs import JsonFormatter
from civicpulse.cli.metrics import (
    AlertsCollector,
    SchedulerCollector,
    SchedulerStats,
    serve_metrics,
)
from civicpulse.embedded import free_port
from civicpulse.errors import ConfigError
from delivery.dispatch import Dispatcher
from storage.migrate import migrate
from tests.cli_harness import CLI, civicpulse, cli_env, one_clear_line
from tests.conftest import TIMESCALEDB_SERVER, create_database, drop_database, needs_timescaledb
from tests.processes import Processes

ROOT = Path(__file__).resolve().parent.parent


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {labels: value}}``."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _scrape(url: str, seconds: float = 60.0) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=2).text
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_json_logs_are_one_object_per_line() -> None:
    logger = logging.getLogger("civicpulse.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            logger.name,
            logging.WARNING,
            __file__,
            1,
            "batch of %d failed",
            (3,),
            sys.exc_info(),
            extra={"device_id": "bay-1", "path": Path("/x")},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "civicpulse.test"
    assert entry["message"] == "batch of 3 failed"
    assert entry["device_id"] == "bay-1"
    assert entry["path"] == "/x"  # not JSON-encodable: its text, rather than losing the record
    assert entry["pid"] == os.getpid()
    assert "ValueError: boom" in entry["exc"]
    assert datetime.fromisoformat(entry["ts"]).tzinfo is not None
    assert "args" not in entry and "msg" not in entry


def test_every_service_metric_is_documented() -> None:
    from api import metrics as api_metrics

    service = AlertService(ServiceConfig(database_url="postgresql://unused"), Dispatcher({}), [])
    texts = [
        generate_latest(_registry(AlertsCollector(service))).decode(),
        generate_latest(_registry(SchedulerCollector(SchedulerStats()))).decode(),
    ]
    names = {
        name for text in texts for name in re.findall(r"^# TYPE (\S+)", text, flags=re.MULTILINE)
    }
    names |= {api_metrics.REQUESTS._name + "_total", api_metrics.SECONDS._name}
    assert len(names) == 16
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = sorted(name for name in names if f"`{name}" not in docs)
    assert not missing, f"add to the metrics tables in docs/operations.md: {missing}"


def _registry(collector: AlertsCollector | SchedulerCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def test_a_metrics_port_in_use_names_its_setting() -> None:
    port = free_port()
    first = serve_metrics(
        SchedulerCollector(SchedulerStats()), host="127.0.0.1", port=port, setting="X_PORT"
    )
    assert first is not None
    try:
        with pytest.raises(ConfigError, match=f"X_PORT: port {port} on 127.0.0.1 is already"):
            serve_metrics(
                SchedulerCollector(SchedulerStats()), host="127.0.0.1", port=port, setting="X_PORT"
            )
        assert (
            serve_metrics(
                SchedulerCollector(SchedulerStats()), host="127.0.0.1", port=0, setting="X"
            )
            is None
        )
    finally:
        first.close()


def test_doctor_endpoint_settings() -> None:
    assert parse_endpoints(" ingest=http://i:9464/metrics, api=http://a:8000/metrics ,") == {
        "ingest": "http://i:9464/metrics",
        "api": "http://a:8000/metrics",
    }
    for bad in ("ingest", "=http://x/metrics", "ingest=ftp://x"):
        with pytest.raises(ConfigError, match="CIVICPULSE_METRICS_URLS"):
            parse_endpoints(bad)
    shown = highlights(
        {
            "civicpulse_ingest_messages_acked_total": 1234.0,
            "civicpulse_ingest_pending_messages": 5.0,
            "civicpulse_analytics_checks_total": 2.0,
            "civicpulse_analytics_runs_total": 1.0,
            "civicpulse_analytics_last_check_timestamp_seconds": 1000.0,
        },
        now=1042.0,
    )
    assert shown == "1,234 messages acknowledged, 5 pending, 1 runs, last check 42 s ago"


@pytest.mark.slow
def test_alerts_and_scheduler_serve_metrics_and_json_logs(
    db: str, processes: Processes, tmp_path: Path
) -> None:
    alerts_port, analytics_port = free_port(), free_port()
    env = cli_env(
        {
            "CIVICPULSE_DATABASE_URL": db,
            "CIVICPULSE_ALERTS_METRICS_PORT": str(alerts_port),
            "CIVICPULSE_ANALYTICS_METRICS_PORT": str(analytics_port),
            "CIVICPULSE_LOG_FORMAT": "json",
        }
    )
    alerts_log, analytics_log = tmp_path / "alerts.log", tmp_path / "analytics.log"
    alerts = processes.start([*CLI, "alerts", "run", "--tick", "1"], env=env, log=alerts_log)
    scheduler = processes.start(
        [*CLI, "analytics", "schedule", "--check-every", "3600"], env=env, log=analytics_log
    )
    alerts_url = f"http://127.0.0.1:{alerts_port}/metrics"
    analytics_url = f"http://127.0.0.1:{analytics_port}/metrics"

    text = _scrape(alerts_url)
    found = _families(text)
    assert found["civicpulse_alerts_changes_total"] == {(): 0.0}
    assert "# TYPE civicpulse_alerts_active gauge" in text
    assert "civicpulse_alerts_active" not in found  # no alert: no level has a sample
    assert found["civicpulse_alerts_latency_seconds_count"] == {(): 0.0}
    assert found["process_resident_memory_bytes"][()] > 0

    # The scheduler looks once at start; on day 2 or later of a month it runs the last month.
    expected_runs = 1.0 if datetime.now(UTC).day >= 2 else 0.0
    deadline = time.monotonic() + 60
    while True:
        found = _families(_scrape(analytics_url))
        if (
            found["civicpulse_analytics_runs_total"][()] == expected_runs
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert found["civicpulse_analytics_checks_total"] == {(): 1.0}
    assert found["civicpulse_analytics_runs_total"] == {(): expected_runs}
    assert abs(found["civicpulse_analytics_last_check_timestamp_seconds"][()] - time.time()) < 120

    # doctor checks each endpoint it is given.
    urls = f"alerts={alerts_url},analytics={analytics_url}"
    doctor = civicpulse(
        "doctor", env={"CIVICPULSE_DATABASE_URL": db, "CIVICPULSE_METRICS_URLS": urls}
    )
    assert f"  alerts     {alerts_url}: up; 0 changes evaluated, 0 alerts active" in doctor.stdout
    assert (
        f"  analytics  {analytics_url}: up; {expected_runs:.0f} runs, last check" in doctor.stdout
    )
    assert "does not answer" not in doctor.stdout

    alerts.send_signal(signal.SIGTERM)
    assert alerts.wait(30) == 0
    doctor = civicpulse(
        "doctor", env={"CIVICPULSE_DATABASE_URL": db, "CIVICPULSE_METRICS_URLS": urls}
    )
    assert doctor.returncode == 1
    assert f"alerts: its metrics endpoint {alerts_url} does not answer" in doctor.stdout
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(30) == 0

    # Every line either command wrote is one JSON object (no stray text), and they say what ran.
    for log, expected in ((alerts_log, "alert service stopped"), (analytics_log, "metrics on")):
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        assert entries, log
        assert all({"ts", "level", "logger", "message", "pid"} <= set(e) for e in entries)
        assert any(e["message"].startswith(expected) for e in entries), entries


def test_a_bad_metrics_setting_is_one_clear_line(db: str) -> None:
    result = civicpulse(
        "doctor", env={"CIVICPULSE_DATABASE_URL": db, "CIVICPULSE_METRICS_URLS": "ingest"}
    )
    one_clear_line(result, 2, "CIVICPULSE_METRICS_URLS:", "expected name=http://")


@needs_timescaledb
def test_doctor_reports_timescaledb_jobs() -> None:
    assert TIMESCALEDB_SERVER is not None
    url = create_database(TIMESCALEDB_SERVER)
    try:
        asyncio.run(migrate(url, timescaledb="on"))
        with psycopg.connect(url, autocommit=True) as conn:
            ids = [
                int(str(r[0]))
                for r in conn.execute(
                    "SELECT job_id FROM timescaledb_information.jobs WHERE job_id >= 1000"
                    " ORDER BY job_id"
                )
            ]
        assert len(ids) >= 12  # compression, retention and two refreshes per device type
        doctor = civicpulse("doctor", env={"CIVICPULSE_DATABASE_URL": url})
        assert f"  TimescaleDB jobs: {len(ids)} (" in doctor.stdout, doctor.stdout + doctor.stderr
        assert "is paused" not in doctor.stdout
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT alter_job(%s, scheduled => false)", (ids[0],))
        doctor = civicpulse("doctor", env={"CIVICPULSE_DATABASE_URL": url})
        assert doctor.returncode == 1
        assert (
            f"TimescaleDB job {ids[0]} (" in doctor.stdout
            and f") is paused: SELECT alter_job({ids[0]}, scheduled => true)" in doctor.stdout
        ), doctor.stdout
        assert doctor.stdout.count("is paused") == 1
    finally:
        drop_database(TIMESCALEDB_SERVER, url)


def test_doctor_says_plain_postgresql_has_no_jobs(db: str) -> None:
    doctor = civicpulse("doctor", env={"CIVICPULSE_DATABASE_URL": db})
    assert "  rollups maintained by ingest (no background jobs)" in doctor.stdout
    assert "TimescaleDB jobs" not in doctor.stdout
