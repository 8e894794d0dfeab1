"""End-to-end phases: publisher -> fresh broker -> subscriber process -> database, timed.

Each phase is timed from the publisher's first PUBLISH until every row is committed, then checked:
the readings tables must hold exactly as many rows as messages were published, and nothing may
sit in quarantine. CivicPulse's completion is read from its Prometheus endpoint (acknowledged
after commit), the naive baseline's by counting rows.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.broker import BenchBroker
from bench.cpu import CpuMeter, Probe, machine_busy, process_cpu, processes_cpu, threads_cpu, tree
from bench.database import BenchDatabase, civicpulse_command
from bench.procs import REPO, Publisher, PublishResult, RssSampler, rss_bytes
from civicpulse.embedded import free_port
from devices.contract import TELEMETRY_FILTER


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One end-to-end phase: ``messages`` published, ``rows`` found afterwards."""

    label: str
    messages: int
    seconds: float
    """First publish until the last row was committed."""
    publish: PublishResult
    rows: int
    quarantined: int
    cpu: dict[str, float]
    """CPU seconds per component from the first publish until done (see :func:`_cpu_probes`)."""
    duplicates: int = 0
    peak_rss: int = 0
    idle_rss: int = 0
    batches: int = 0
    batch_seconds: float = 0.0
    """Time ingest spent writing and committing its batches (its own histogram's sum)."""
    profile: str | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def subscriber_cpu(self) -> float:
        """CPU seconds of the subscriber process (all its threads)."""
        return sum(v for k, v in self.cpu.items() if k.startswith("subscriber"))

    @property
    def exact(self) -> bool:
        """Nothing lost, nothing duplicated, nothing quarantined."""
        return self.rows == self.messages and self.quarantined == 0


def scrape(port: int) -> dict[str, float]:
    """Metric name -> value summed over labels, from a Prometheus text endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            key = name.split("{", 1)[0]
            values[key] = values.get(key, 0.0) + float(value)
    return values


def _check_alive(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Raise with the end of its log if the subscriber process has exited."""
    if proc.poll() is not None:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{tail}")


def _wait_metrics(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(proc, log)
        try:
            scrape(port)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no metrics on port {port} after {timeout} s")


def _wait_acked(
    port: int, proc: subprocess.Popen[bytes], log: Path, count: int, timeout: float
) -> tuple[float, dict[str, float]]:
    """Poll until ``count`` messages are acknowledged (hence committed); returns the time seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(proc, log)
        found = scrape(port)
        if found.get("civicpulse_ingest_messages_acked_total", 0.0) >= count:
            return time.time(), found
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {count} messages acknowledged after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _metrics_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (the supervisor's, then one per worker),
    below Linux's ephemeral range: there, another process's outgoing connection (ingest's own,
    to the broker) can take port+1 between the check and the worker's start."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20_000, 32_000 - count)
        if all(_bindable(first + i) for i in range(count)):
            return first
    return free_port()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cpu_probes(subscriber: int, broker: int | None, db: BenchDatabase) -> dict[str, Probe]:
    """What the phase's CPU meter reads: the subscriber's main thread and its other threads
    (paho's network loop), the broker, PostgreSQL (this database's server processes and the
    background ones present at the start), and every core of the machine together."""
    server = db.server_pids()

    # Summed over the process tree: a supervised ingest runs its workers as children.
    def main_thread() -> float:
        return sum(threads_cpu(pid).get(pid, 0.0) for pid in tree(subscriber))

    def other_threads() -> float:
        return sum(
            v for pid in tree(subscriber) for tid, v in threads_cpu(pid).items() if tid != pid
        )

    return {
        "subscriber main thread": main_thread,
        "subscriber other threads": other_threads,
        "broker": lambda: process_cpu(broker) if broker else 0.0,
        "postgresql": lambda: processes_cpu(server),
        "machine": machine_busy,
    }


def _profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid``'s GIL holder into a collapsed-stack file, until SIGINT."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    options = ["--format", "raw", "--threads", "--gil", "--rate", "200", "--output", str(output)]
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_civicpulse(
    db: BenchDatabase,
    workdir: Path,
    *,
    label: str,
    messages: Path,
    count: int,
    window: int,
    timeout: float,
    ingest_env: dict[str, str] | None = None,
    profile: bool = False,
) -> PhaseResult:
    """``civicpulse ingest`` as its own process, fed ``count`` QoS 1 messages by the publisher.

    ``ingest_env`` adds ``CIVICPULSE_*`` settings (e.g. a batch size) to ingest's environment.
    """
    db.empty_tables()
    workdir.mkdir(parents=True, exist_ok=True)
    with BenchBroker(workdir / "broker") as broker:
        client_id = f"bench-ingest-{os.getpid()}-{label}"
        metrics_port = _metrics_ports(
            1 + int((ingest_env or {}).get("CIVICPULSE_INGEST_WORKERS", "1"))
        )
        env = {
            **db.env(),
            "CIVICPULSE_MQTT_URL": broker.url,
            "CIVICPULSE_INGEST_METRICS_PORT": str(metrics_port),
            "CIVICPULSE_INGEST_CLIENT_ID": client_id,
            **(ingest_env or {}),
        }
        log = workdir / "ingest.log"
        with log.open("wb") as out:
            ingest = subprocess.Popen(
                [*civicpulse_command(), "ingest"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        publisher: Publisher | None = None
        profiler = None
        try:
            _wait_metrics(metrics_port, ingest, log, timeout=30)
            workers = int(env.get("CIVICPULSE_INGEST_WORKERS", "1"))
            if workers > 1:  # supervised: <client_id>-<i> on the default shared group
                for index in range(workers):
                    broker.wait_subscribed(
                        f"{client_id}-{index}", f"$share/civicpulse-ingest/{TELEMETRY_FILTER}"
                    )
            else:
                broker.wait_subscribed(client_id, TELEMETRY_FILTER)
            sampler = RssSampler(ingest.pid)
            sampler.start()
            publisher = Publisher(
                port=broker.port, messages=messages, client_id=f"{client_id}-pub", window=window
            )
            idle_rss = rss_bytes(ingest.pid) or 0
            if profile:
                profiler = _profiler(ingest.pid, workdir / "profile.txt")
                time.sleep(1.0)  # py-spy attaches before the first message
            meter = CpuMeter(_cpu_probes(ingest.pid, broker.pid, db))
            meter.start()
            publisher.go()
            done_at, final = _wait_acked(metrics_port, ingest, log, count, timeout)
            cpu = meter.stop()
            published = publisher.result(timeout)
            sampler.stop()
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
            if publisher is not None:
                publisher.kill()
            _stop(ingest)
    return PhaseResult(
        label=label,
        messages=count,
        seconds=done_at - published.first_publish,
        publish=published,
        rows=db.count(),
        quarantined=db.count(("quarantine",)),
        cpu={**cpu, "publisher": published.cpu_seconds},
        duplicates=int(final.get("civicpulse_ingest_duplicates_total", 0.0)),
        peak_rss=sampler.peak,
        idle_rss=idle_rss,
        batches=int(final.get("civicpulse_ingest_batch_seconds_count", 0.0)),
        batch_seconds=final.get("civicpulse_ingest_batch_seconds_sum", 0.0),
        profile=str(workdir / "profile.txt") if profile else None,
    )


def run_naive(
    db: BenchDatabase, workdir: Path, *, messages: Path, count: int, window: int, timeout: float
) -> PhaseResult:
    """The :mod:`bench.naive` subscriber as its own process, fed ``count`` QoS 1 messages."""
    db.empty_tables()
    workdir.mkdir(parents=True, exist_ok=True)
    with BenchBroker(workdir / "broker") as broker:
        client_id = f"bench-naive-{os.getpid()}"
        command = [sys.executable, "-m", "bench.naive", "--port", str(broker.port)]
        command += ["--database-url", db.url, "--client-id", client_id]
        log = workdir / "naive.log"
        with log.open("wb") as out:
            naive = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        publisher: Publisher | None = None
        try:
            broker.wait_subscribed(client_id, TELEMETRY_FILTER)
            publisher = Publisher(
                port=broker.port, messages=messages, client_id=f"{client_id}-pub", window=window
            )
            meter = CpuMeter(_cpu_probes(naive.pid, broker.pid, db))
            meter.start()
            publisher.go()
            done_at = db.wait_for_rows(count, timeout, alive=lambda: naive.poll() is None)
            cpu = meter.stop()
            published = publisher.result(timeout)
        finally:
            if publisher is not None:
                publisher.kill()
            _stop(naive)
    return PhaseResult(
        label="naive",
        messages=count,
        seconds=done_at - published.first_publish,
        publish=published,
        rows=db.count(),
        quarantined=db.count(("quarantine",)),
        cpu={**cpu, "publisher": published.cpu_seconds},
    )
