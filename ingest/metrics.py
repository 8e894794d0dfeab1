"""Ingest counters and their Prometheus text exposition, served over a tiny HTTP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class Metrics:
    """Mutable counters owned by one ingest process (single event loop: no locking needed)."""

    messages_received: int = 0
    messages_acked: int = 0
    rows_written: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    status_changes: int = 0
    batches: int = 0
    batch_seconds_sum: float = 0.0
    batch_seconds_buckets: list[int] = field(default_factory=lambda: [0] * len(_BUCKETS))
    db_errors: int = 0
    mqtt_connects: int = 0
    pending: int = 0
    broker_dropped: int | None = None
    """Mosquitto's ``$SYS/broker/publish/messages/dropped``: messages the broker discarded."""

    def observe_batch(self, seconds: float) -> None:
        self.batches += 1
        self.batch_seconds_sum += seconds
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                self.batch_seconds_buckets[i] += 1

    def render(self) -> str:
        """Prometheus text format 0.0.4."""
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP civicpulse_{name} {help_}")
            out.append(f"# TYPE civicpulse_{name} {kind}")
            out.extend(f"civicpulse_{name}{labels} {value:g}" for labels, value in samples)

        metric(
            "ingest_messages_received_total",
            "counter",
            "MQTT messages received.",
            [("", self.messages_received)],
        )
        metric(
            "ingest_messages_acked_total",
            "counter",
            "Messages acknowledged after commit.",
            [("", self.messages_acked)],
        )
        metric(
            "ingest_rows_written_total",
            "counter",
            "Readings committed, by device type.",
            [(f'{{device_type="{k}"}}', v) for k, v in sorted(self.rows_written.items())],
        )
        metric(
            "ingest_duplicates_total",
            "counter",
            "Readings already stored (redeliveries).",
            [(f'{{device_type="{k}"}}', v) for k, v in sorted(self.duplicates.items())],
        )
        metric(
            "ingest_quarantined_total",
            "counter",
            "Rejected messages or items, by reason.",
            [(f'{{reason="{k}"}}', v) for k, v in sorted(self.quarantined.items())],
        )
        metric(
            "ingest_status_changes_total",
            "counter",
            "Device online/offline changes stored.",
            [("", self.status_changes)],
        )
        metric(
            "ingest_db_errors_total",
            "counter",
            "Failed database writes (retried).",
            [("", self.db_errors)],
        )
        metric(
            "ingest_mqtt_connects_total",
            "counter",
            "Successful broker connections.",
            [("", self.mqtt_connects)],
        )
        metric(
            "ingest_pending_messages", "gauge", "Received, not yet committed.", [("", self.pending)]
        )
        if self.broker_dropped is not None:
            metric(
                "broker_dropped_messages",
                "gauge",
                "Messages the broker reports it dropped (queue or inflight limits).",
                [("", self.broker_dropped)],
            )
        cumulative = []
        for bound, count in zip(_BUCKETS, self.batch_seconds_buckets, strict=True):
            cumulative.append((f'_bucket{{le="{bound}"}}', float(count)))
        cumulative.append(('_bucket{le="+Inf"}', float(self.batches)))
        out.append("# HELP civicpulse_ingest_batch_seconds Time to write and commit one batch.")
        out.append("# TYPE civicpulse_ingest_batch_seconds histogram")
        out.extend(f"civicpulse_ingest_batch_seconds{s} {v:g}" for s, v in cumulative)
        out.append(f"civicpulse_ingest_batch_seconds_sum {self.batch_seconds_sum:g}")
        out.append(f"civicpulse_ingest_batch_seconds_count {self.batches}")
        return "\n".join(out) + "\n"


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """Serve ``GET /metrics``; any other path is 404."""
    return await serve_text(metrics.render, host, port)


async def serve_text(render: Callable[[], str], host: str, port: int) -> asyncio.Server:
    """Serve the text ``render`` returns at ``GET /metrics`` (rendered in a thread)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path == b"/metrics":
                body, status = (await asyncio.to_thread(render)).encode(), b"200 OK"
            else:
                body, status = b"not found\n", b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass  # a scraper that hung up or sent garbage: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    logger.info("metrics on http://%s:%d/metrics", host, port)
    return server
