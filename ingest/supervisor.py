"""Several ingest processes on one shared subscription, supervised as one service.

Python's GIL holds one ingest process to about one core, most of it spent in paho's network
thread; workers split the stream with ``$share/<group>/…`` so a multi-core host uses its cores.
Each worker keeps a fixed client id, so a worker restarted after a crash resumes its own
persistent session and receives what the broker queued for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from ingest.batching import Backoff
from ingest.metrics import registry_for, serve

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# How a worker that was still starting ends on SIGTERM: killed by it, or (civicpulse.cli) 128 + 15.
_STOPPED_WHILE_STARTING = (-signal.SIGTERM, 128 + signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    client_id: str
    share_group: str
    metrics_port: int


def plan(
    client_id: str, share_group: str | None, workers: int, metrics_port: int
) -> list[WorkerPlan]:
    """Worker ``i`` is ``<client_id>-<i>``; its metrics are on ``metrics_port + 1 + i`` (or off)."""
    group = share_group or "civicpulse-ingest"
    return [
        WorkerPlan(f"{client_id}-{i}", group, metrics_port + 1 + i if metrics_port else 0)
        for i in range(workers)
    ]


def merge_metrics(texts: Iterable[str]) -> list[Metric]:
    """The workers' metrics as one process's: samples of the same name and labels summed.

    Gauges are summed too (pending messages are per worker), except the broker's own drop
    counter, which every worker reads from the same broker: that one is reported once.
    """
    families: dict[str, Metric] = {}
    totals: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    readers: dict[tuple[str, tuple[tuple[str, str], ...]], int] = defaultdict(int)
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type)
            )
            samples = totals.setdefault(merged.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
                readers[key] += 1
    for name, family in families.items():
        for (sample_name, labels), value in totals[name].items():
            if name == "civicpulse_broker_dropped_messages":
                value /= readers[(sample_name, labels)]
            family.add_sample(sample_name, dict(labels), value)
    return list(families.values())


class WorkersCollector(Collector):
    """Scrapes every worker when Prometheus scrapes the supervisor."""

    def __init__(self, workers: Sequence[WorkerPlan]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        texts = []
        for worker in self._workers:
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{worker.metrics_port}/metrics"
                with urllib.request.urlopen(url, timeout=2) as response:
                    texts.append(response.read().decode())
        yield from merge_metrics(texts)


async def supervise(
    workers: list[WorkerPlan], *, command: Sequence[str], metrics_host: str, metrics_port: int
) -> int:
    """Run ``command --client-id … --share-group …`` per worker until SIGTERM/SIGINT; restart
    any worker that exits unexpectedly."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = None
    if metrics_port:
        server = serve(
            registry_for(WorkersCollector(workers)),
            metrics_host,
            metrics_port,
            "CIVICPULSE_INGEST_METRICS_PORT",
        )
    backoff = Backoff(base=1.0, cap=30.0)
    restarts = [0] * len(workers)

    async def run(index: int) -> int:
        worker = workers[index]
        while True:
            env = {**os.environ, "CIVICPULSE_INGEST_METRICS_PORT": str(worker.metrics_port)}
            process = await asyncio.create_subprocess_exec(
                *command,
                "--client-id",
                worker.client_id,
                "--share-group",
                worker.share_group,
                env=env,
                preexec_fn=_die_with_parent,
            )
            logger.info("worker %s started (pid %d)", worker.client_id, process.pid)
            waiter = asyncio.create_task(process.wait())
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.is_set():
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                code = await waiter
                stop.cancel()
                # A worker still starting ends before it could receive or acknowledge anything:
                # killed by the SIGTERM itself (still in Python's start-up) or, once the command
                # line took the signal over, with its "stopped by SIGTERM" status. Both are clean.
                return 0 if code in _STOPPED_WHILE_STARTING else code
            stop.cancel()
            code = waiter.result()
            delay = backoff.delay(restarts[index])
            restarts[index] += 1
            logger.error(
                "worker %s exited with %d; restarting in %.1f s (its session keeps its messages)",
                worker.client_id,
                code,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            if stopping.is_set():
                # Stopped while waiting to restart it: nothing of this worker is running, and
                # its session keeps what it had not acknowledged. That is a clean stop.
                logger.info("worker %s not restarted: stopping", worker.client_id)
                return 0

    try:
        codes = await asyncio.gather(*(run(i) for i in range(len(workers))))
    finally:
        if server is not None:
            server.close()
    return 0 if all(code == 0 for code in codes) else 1


def _die_with_parent() -> None:
    """In the worker, before exec: ask Linux for SIGTERM when the supervisor dies, even by
    SIGKILL. An orphaned worker would otherwise fight a restarted supervisor's worker of the same
    client id for the broker session, each connection taking the other's over. Elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor still forwards SIGTERM on a clean stop
