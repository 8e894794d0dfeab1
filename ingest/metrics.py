"""Ingest's counters, exposed to Prometheus through ``prometheus-client``.

The counters are plain fields, updated by the one event loop that owns them (no locks on the hot
path); a custom collector turns them into metric families when Prometheus scrapes, on
``prometheus-client``'s HTTP thread.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from civicpulse.errors import ConfigError

logger = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class Metrics:
    """Counters owned by one ingest process (single event loop: no locking needed)."""

    messages_received: int = 0
    messages_acked: int = 0
    rows_written: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    status_changes: int = 0
    batches: int = 0
    batch_seconds_sum: float = 0.0
    batch_seconds_buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    db_errors: int = 0
    mqtt_connects: int = 0
    pending: int = 0
    broker_dropped: int | None = None
    """Mosquitto's ``$SYS/broker/publish/messages/dropped``: messages the broker discarded."""
    broker_dropped_while_away: int = 0
    """Messages the broker dropped while ingest was not running (see ingest.drops)."""

    def observe_batch(self, seconds: float) -> None:
        self.batches += 1
        self.batch_seconds_sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.batch_seconds_buckets[i] += 1


class MetricsCollector(Collector):
    """Reads a :class:`Metrics` when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        yield _counter("ingest_messages_received", "MQTT messages received.", m.messages_received)
        yield _counter(
            "ingest_messages_acked", "Messages acknowledged after commit.", m.messages_acked
        )
        yield _labelled("ingest_rows_written", "Readings committed.", "device_type", m.rows_written)
        yield _labelled(
            "ingest_duplicates",
            "Readings already stored (redeliveries).",
            "device_type",
            m.duplicates,
        )
        yield _labelled(
            "ingest_quarantined", "Rejected messages or items, by reason.", "reason", m.quarantined
        )
        yield _counter(
            "ingest_status_changes", "Device online/offline changes stored.", m.status_changes
        )
        yield _counter("ingest_db_errors", "Failed database writes (retried).", m.db_errors)
        yield _counter("ingest_mqtt_connects", "Successful broker connections.", m.mqtt_connects)
        yield GaugeMetricFamily(
            "civicpulse_ingest_pending_messages", "Received, not yet committed.", value=m.pending
        )
        if m.broker_dropped is not None:
            yield GaugeMetricFamily(
                "civicpulse_broker_dropped_messages",
                "Messages the broker reports it dropped since it started (queue or inflight"
                " limits).",
                value=m.broker_dropped,
            )
        yield _counter(
            "broker_dropped_while_away",
            "Messages the broker dropped while ingest was not running.",
            m.broker_dropped_while_away,
        )
        # observe_batch counts into every bucket a time fits: already cumulative.
        cumulative = [
            (str(bound), float(count))
            for bound, count in zip(BUCKETS, m.batch_seconds_buckets, strict=True)
        ]
        cumulative.append(("+Inf", float(m.batches)))
        yield HistogramMetricFamily(
            "civicpulse_ingest_batch_seconds",
            "Time to write and commit one batch.",
            buckets=cumulative,
            sum_value=m.batch_seconds_sum,
        )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"civicpulse_{name}", documentation, value=value)


def _labelled(
    name: str, documentation: str, label: str, values: Counter[str]
) -> CounterMetricFamily:
    family = CounterMetricFamily(f"civicpulse_{name}", documentation, labels=[label])
    for key, value in sorted(dict(values).items()):
        family.add_metric([key], value)
    return family


def registry_for(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class MetricsServer:
    """``prometheus-client``'s HTTP server on its thread; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(registry: CollectorRegistry, host: str, port: int, setting: str) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a background thread.

    A port in use is a :class:`ConfigError` naming ``setting``: two ingest processes on one host
    need two ports (or 0 to turn the endpoint off).
    """
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(
                setting,
                f"port {port} on {host} is already in use (another ingest on this host?);"
                f" set {setting} to a free port, or 0 to turn metrics off",
            ) from None
        raise ConfigError(setting, f"cannot serve metrics on {host}:{port}: {error}") from None
    logger.info("metrics on http://%s:%d/metrics", host, port)
    return MetricsServer(server, thread)
