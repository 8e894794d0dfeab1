"""Prometheus endpoints of the alert service and the analytics scheduler.

Ingest has its own (:mod:`ingest.metrics`), the API serves ``/metrics`` itself (:mod:`api.metrics`).
Here the counters stay plain fields of the service, written by its one event loop; a collector
turns them into metric families when Prometheus scrapes, on ``prometheus-client``'s HTTP thread,
as ingest's do. Each endpoint also carries the process's CPU and memory (``process_*``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from civicpulse.errors import ConfigError
from ingest.metrics import MetricsServer

if TYPE_CHECKING:
    from alerts.service import AlertService

logger = logging.getLogger(__name__)


def serve_metrics(
    collector: Collector, *, host: str, port: int, setting: str
) -> MetricsServer | None:
    """Serve ``collector`` (and the process's own figures) at ``http://host:port/metrics``;
    port 0: no endpoint. A port in use is a :class:`ConfigError` naming ``setting``."""
    if port == 0:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        detail = "is already in use" if error.errno == errno.EADDRINUSE else f"fails: {error}"
        raise ConfigError(
            setting, f"port {port} on {host} {detail}; set {setting} to a free port, or 0 for none"
        ) from None
    logger.info("metrics on http://%s:%d/metrics", host, port)
    return MetricsServer(server, thread)


class AlertsCollector(Collector):
    """The alert service's counters and its open alerts, read when scraped."""

    def __init__(self, service: AlertService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        stats = self._service.stats
        yield CounterMetricFamily(
            "civicpulse_alerts_changes", "Change-feed notifications evaluated.", value=stats.changes
        )
        yield CounterMetricFamily(
            "civicpulse_alerts_steps",
            "Alert lifecycle steps recorded (opened, escalated, resolved, …).",
            value=stats.steps,
        )
        yield CounterMetricFamily(
            "civicpulse_alerts_announced", "Alert steps announced.", value=stats.announced
        )
        yield CounterMetricFamily(
            "civicpulse_alerts_delivered",
            "Messages delivered to subscribers.",
            value=stats.delivered,
        )
        active = GaugeMetricFamily(
            "civicpulse_alerts_active", "Unresolved alerts, by level.", labels=["level"]
        )
        levels = Counter(alert.level for alert in self._service.active.values())
        for level, count in sorted(levels.items()):
            active.add_metric([level], count)
        yield active
        latencies = list(stats.latencies)  # a copy: the service's loop appends meanwhile
        yield SummaryMetricFamily(
            "civicpulse_alerts_latency_seconds",
            "From the newest reading of a change to its alert being announced.",
            count_value=len(latencies),
            sum_value=sum(latencies),
        )


@dataclass(slots=True)
class SchedulerStats:
    """What ``analytics schedule`` has done since it started."""

    checks: int = 0
    runs: int = 0
    last_check: float = 0.0
    last_run: float = 0.0
    households: int = 0
    compared: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    failed: int = 0


class SchedulerCollector(Collector):
    def __init__(self, stats: SchedulerStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        yield CounterMetricFamily(
            "civicpulse_analytics_checks",
            "Times the scheduler looked for a month to run.",
            s.checks,
        )
        yield CounterMetricFamily(
            "civicpulse_analytics_runs", "Monthly report runs completed.", value=s.runs
        )
        yield GaugeMetricFamily(
            "civicpulse_analytics_last_check_timestamp_seconds",
            "When the scheduler last looked (Unix time).",
            value=s.last_check,
        )
        yield GaugeMetricFamily(
            "civicpulse_analytics_last_run_timestamp_seconds",
            "When the last run completed (Unix time; 0: none yet).",
            value=s.last_run,
        )
        yield GaugeMetricFamily(
            "civicpulse_analytics_households",
            "Households in the last run.",
            value=s.households,
        )
        yield GaugeMetricFamily(
            "civicpulse_analytics_households_compared",
            "Households compared with similar homes in the last run.",
            value=s.compared,
        )
        sent = CounterMetricFamily(
            "civicpulse_analytics_reports_sent",
            "Reports delivered, by channel.",
            labels=["channel"],
        )
        for channel, count in sorted(s.sent.items()):
            sent.add_metric([channel], count)
        yield sent
        yield CounterMetricFamily(
            "civicpulse_analytics_delivery_failures", "Reports whose delivery failed.", s.failed
        )


@contextlib.contextmanager
def across_workers(workers: int) -> Iterator[None]:
    """With several API workers, a directory where prometheus-client's multiprocess mode keeps
    every worker's samples, so that /metrics on any worker reports them all (api.metrics)."""
    if workers == 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    directory = tempfile.mkdtemp(prefix="civicpulse-api-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # the workers inherit it when spawned
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(directory, ignore_errors=True)
