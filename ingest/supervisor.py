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
import sys
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

from ingest.batching import Backoff
from ingest.metrics import serve_text

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def merge_metrics(texts: list[str]) -> str:
    """Sum samples of the same name and labels across workers, keeping each metric family's
    HELP, TYPE and samples together (the exposition format requires it). Gauges are summed too:
    they are per-worker amounts such as pending messages, except the broker's own drop counter,
    which every worker reports alike."""
    families: dict[str, list[str]] = {}
    totals: dict[str, float] = defaultdict(float)
    for text in texts:
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                family = parts[2] if len(parts) > 2 else line
                lines = families.setdefault(family, [])
                if line not in lines:
                    lines.append(line)
                continue
            sample, _, number = line.rpartition(" ")
            family = _family(sample, families)
            lines = families.setdefault(family, [])
            if sample not in totals:
                lines.append(sample)
            totals[sample] += float(number)
    out = []
    for lines in families.values():
        for line in lines:
            if line in totals:
                total = totals[line] / (len(texts) if "broker_dropped" in line else 1)
                out.append(f"{line} {total:g}")
            else:
                out.append(line)
    return "\n".join(out) + "\n"


def _family(sample: str, known: dict[str, list[str]]) -> str:
    name = sample.split("{", 1)[0]
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name.removesuffix(suffix) in known:
            return name.removesuffix(suffix)
    return name


async def supervise(
    workers: list[WorkerPlan], *, metrics_host: str, metrics_port: int, extra_args: list[str]
) -> int:
    """Run the workers until SIGTERM/SIGINT; restart any that exits unexpectedly."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = None
    if metrics_port:
        server = await serve_text(lambda: _scrape_all(workers), metrics_host, metrics_port)
    backoff = Backoff(base=1.0, cap=30.0)
    restarts = [0] * len(workers)

    async def run(index: int) -> int:
        worker = workers[index]
        while True:
            env = {**os.environ, "CIVICPULSE_INGEST_METRICS_PORT": str(worker.metrics_port)}
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "civicpulse.cli",
                "ingest",
                "--workers",
                "1",
                "--client-id",
                worker.client_id,
                "--share-group",
                worker.share_group,
                *extra_args,
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
                # A worker still starting dies of the SIGTERM itself, before it could receive or
                # acknowledge anything: that is a clean stop too.
                return 0 if code == -signal.SIGTERM else code
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
                return code

    try:
        codes = await asyncio.gather(*(run(i) for i in range(len(workers))))
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
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


def _scrape_all(workers: list[WorkerPlan]) -> str:
    texts = []
    for worker in workers:
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{worker.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:
                texts.append(response.read().decode())
    return merge_metrics(texts)
