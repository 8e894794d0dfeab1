"""Alert latency: from a triggering message being published to its alert reaching a subscriber,
with a 10,000-device city simulated in real time as background load.

Everything is the real thing, each its own process: a Mosquitto of its own (``bench/broker.py``),
``civicpulse ingest``, ``civicpulse alerts run`` and ``civicpulse simulate --scenario city-live
--from-registry`` (every device its own MQTT session) over the sample city of
``civicpulse city load``, in a fresh database. Then the benchmark publishes triggers for probe
devices of its own, one at a time, stamps each with its publish time, and times the alert's
arrival at a local webhook (``bench/webhook_sink.py``) subscribed to the probes' ward.

Two triggers, each one message whose commit alone decides an alert:

* ``offline``: a status message ``{"status": "offline"}`` (a device's will) for a weather-station
  probe: ``device_offline`` from the status change feed;
* ``battery``: a reading with ``battery_pct`` 5 for a parking-bay probe: ``low_battery`` from the
  readings change feed (the bay evaluator sees the reading too).

    .venv/bin/python -m bench.alert_latency --samples 200
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.broker import BenchBroker
from bench.cpu import CpuMeter, machine_busy, process_cpu, processes_cpu, tree
from bench.database import BenchDatabase
from bench.pipelines import scrape
from bench.procs import REPO, interrupt_on_sigterm
from bench.profile import summarise
from bench.webhook_sink import WebhookSink
from civicpulse.embedded import free_port
from devices.contract import TELEMETRY_FILTER, status_topic, telemetry_topic

logger = logging.getLogger("bench")

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
CIVICPULSE = [sys.executable, "-m", "civicpulse.cli"]
"""The command line of this checkout (run from its root): the code under test, whatever an
installed ``civicpulse`` script would point at."""
TARGET_P95_S = 2.0
KINDS = ("offline", "battery")
ACKED = "civicpulse_ingest_messages_acked_total"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench-alerts", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--samples", type=int, default=200, help="triggers (default 200)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="mean seconds between triggers (default 1)"
    )
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of load first")
    parser.add_argument(
        "--no-burst",
        action="store_true",
        help="measure after the warm-up, instead of waiting until the meters' half-hourly burst"
        " falls in the middle of the measurement",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=24,
        help="hours of the city's past to backfill first, so the evaluators start from a day's"
        " data as a running deployment does (default 24; 0: none)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the alert service with py-spy while measuring and print where its time goes",
    )
    parser.add_argument("--homes", type=int, default=8100, help="sample city: smart meters")
    parser.add_argument("--bays", type=int, default=1850, help="sample city: parking bays")
    parser.add_argument("--monitors", type=int, default=60, help="sample city: AQ monitors")
    parser.add_argument("--tick", type=float, default=15.0, help="alerts run --tick (default 15)")
    parser.add_argument(
        "--speed",
        type=float,
        help="replay the city's last hours this many times faster (accelerated) instead of in"
        " real time: a heavier background load",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CIVICPULSE_DATABASE_URL") or DEFAULT_SERVER,
        help=f"server to create the bench database on (default: $CIVICPULSE_DATABASE_URL or"
        f" {DEFAULT_SERVER})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and work files")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    return parser


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str
    device_id: str
    published: float


class Stack:
    """The platform's processes, each with a log in ``workdir``; stopped in reverse order."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> int:
        with (self.workdir / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [*CIVICPULSE, *args],
                cwd=REPO,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc.pid

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def check(self) -> None:
        """Raise with the end of its log if a process exited (a backfill may, successfully)."""
        for name, proc in self.procs.items():
            if proc.poll() is not None and not (name == "backfill" and proc.returncode == 0):
                tail = "\n".join(self.log(name).splitlines()[-20:])
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def wait(self, what: str, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name == "simulate" else signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    interrupt_on_sigterm()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"civicpulse-alert-bench-{stamp}-"))
    db = BenchDatabase(args.database_url, f"alerts_{stamp}")
    try:
        report = _run(args, db, workdir)
    finally:
        if args.keep:
            logger.info("kept database %s and work files in %s", db.name, workdir)
        else:
            db.drop()
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report["text"])
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"alert-latency-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults written to {out}")
    return 0


def _run(args: argparse.Namespace, db: BenchDatabase, workdir: Path) -> dict[str, Any]:
    logger.info("creating database %s", db.name)
    db.create()
    storage = _cli(db.env(), "db", "migrate").splitlines()[0]
    with BenchBroker(workdir / "broker") as broker, WebhookSink() as sink:
        metrics = free_port()
        stack = Stack(workdir, {**db.env(), "CIVICPULSE_MQTT_URL": broker.url})
        try:
            city = _cli(stack.env, "city", "load", "--homes", str(args.homes), "--bays",
                        str(args.bays), "--monitors", str(args.monitors))  # fmt: skip
            logger.info("%s; %s", storage, city.strip())
            client_id = f"bench-alerts-ingest-{os.getpid()}"
            stack.start(
                "ingest",
                "ingest",
                env={
                    "CIVICPULSE_INGEST_METRICS_PORT": str(metrics),
                    "CIVICPULSE_INGEST_CLIENT_ID": client_id,
                },
            )
            broker.wait_subscribed(client_id, TELEMETRY_FILTER, timeout=60)
            simulate = ["simulate", "--scenario", "city-live", "--from-registry", "--quiet"]
            replay = 0  # hours the accelerated run replays before it reaches now
            if args.speed:
                replay = max(2, int(args.speed * (args.warmup + 3 * args.samples * args.interval)
                                    / 3600) + 1)  # fmt: skip
            if args.history > replay:
                logger.info("backfilling %d hours of the city's history", args.history - replay)
                stack.start("backfill", *simulate, "--mode", "backfill", "--connection", "gateway",
                            "--start", f"now-{args.history}h",
                            "--duration", f"{args.history - replay}h")  # fmt: skip
                stack.wait("the backfill", lambda: stack.procs["backfill"].poll() is not None,
                           3600)  # fmt: skip
                backfill = stack.procs.pop("backfill")
                if backfill.returncode != 0:
                    raise RuntimeError(f"the backfill failed:\n{stack.log('backfill')[-2000:]}")
                stack.wait("ingest to store the backfill", _steady(metrics), 600)
            if args.speed:
                simulate += ["--mode", "accelerated", "--start", f"now-{replay}h",
                             "--speed", str(args.speed)]  # fmt: skip
            stack.start("simulate", *simulate)
            devices = int(city.split(",")[-1].split()[0]) if "," in city else args.homes
            logger.info("simulating the city; waiting for its devices to come online")
            online = _acked(metrics) + 0.9 * devices
            stack.wait("the city online", lambda: _acked(metrics) >= online, 300)
            zone, probes = _probes(db.url, workdir, args.samples)
            _cli(stack.env, "devices", "import", str(probes))
            _cli(stack.env, "alerts", "rules", "--defaults")
            _cli(stack.env, "alerts", "subscribe", "--zone", zone, "--kind", "device_health",
                 "--webhook", sink.url, "--max-per-day", "1000000")  # fmt: skip
            alerts_pid = stack.start("alerts", "alerts", "run", "--tick", str(args.tick))
            stack.wait("alerts caught up", lambda: "caught up" in stack.log("alerts"), 300)
            warmup = _warmup(args)
            logger.info("probes in %s; %.0f s of load before measuring", zone, warmup)
            stack.wait("warm-up", _after(warmup), warmup + 5)
            return _measure(args, stack, broker, db, sink, metrics, alerts_pid, zone, devices)
        finally:
            stack.stop()


def _measure(
    args: argparse.Namespace,
    stack: Stack,
    broker: BenchBroker,
    db: BenchDatabase,
    sink: WebhookSink,
    metrics: int,
    alerts_pid: int,
    zone: str,
    devices: int,
) -> dict[str, Any]:
    ingest_pid, simulate_pid = stack.procs["ingest"].pid, stack.procs["simulate"].pid
    server = db.server_pids()
    meter = CpuMeter(
        {
            "alerts": lambda: process_cpu(alerts_pid),
            "ingest": lambda: processes_cpu(tree(ingest_pid)),
            "simulate": lambda: process_cpu(simulate_pid),
            "broker": lambda: process_cpu(broker.pid or 0),
            "postgresql": lambda: processes_cpu(server),
            "machine": machine_busy,
        }
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-trigger-{os.getpid()}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    rng = random.Random(7)
    triggers: list[Trigger] = []
    acked_before = _acked(metrics)
    profile = stack.workdir / "alerts.pyspy"
    profiler = _profiler(alerts_pid, profile) if args.profile else None
    meter.start()
    try:
        for i in range(args.samples):
            triggers.append(_trigger(client, i))
            time.sleep(args.interval * rng.uniform(0.5, 1.5))
        wanted = {t.device_id for t in triggers}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_opened(sink, wanted)) < len(wanted):
            stack.check()
            time.sleep(0.1)
        cpu = meter.stop()
        acked = _acked(metrics) - acked_before
    finally:
        client.loop_stop()
        client.disconnect()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    opened = _opened(sink, {t.device_id for t in triggers})
    latencies = {
        t.device_id: opened[t.device_id] - t.published for t in triggers if t.device_id in opened
    }
    report = _report(args, triggers, latencies, cpu, acked, zone, devices)
    if profiler is not None:
        report["profile"] = (
            "profile of the alert service while measuring: py-spy, every thread, idle included"
            f" (waiting on the database or the feed shows as such)\n{summarise(profile)}"
        )
        report["text"] += "\n\n" + report["profile"]
    return report


def _profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    options = ["--format", "raw", "--idle", "--rate", "100", "--output", str(output)]
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _trigger(client: mqtt.Client, i: int) -> Trigger:
    """Publish trigger ``i`` (offline and battery in turn), stamped with its publish time."""
    kind = KINDS[i % 2]
    device = f"probe-{kind}-{i:04d}"
    published = time.time()
    ts = datetime.fromtimestamp(published, UTC).isoformat(timespec="milliseconds")
    body: dict[str, object]
    if kind == "offline":
        topic, body = status_topic(device), {"status": "offline", "ts": ts}
    else:
        topic, body = telemetry_topic(device), {"ts": ts, "occupied": False, "battery_pct": 5}
    client.publish(topic, json.dumps(body), qos=1)
    return Trigger(kind, device, published)


def _opened(sink: WebhookSink, wanted: set[str]) -> dict[str, float]:
    """When the first ``opened`` message about each wanted subject arrived."""
    out: dict[str, float] = {}
    for at, document in sink.snapshot():
        subject = document.get("subject")
        if document.get("action") == "opened" and subject in wanted and subject not in out:
            out[subject] = at
    return out


def _probes(url: str, workdir: Path, samples: int) -> tuple[str, Path]:
    """Probe devices (as many as triggers) at the centre of the first ward, as a CSV."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT zone_id, (min_lon + max_lon) / 2, (min_lat + max_lat) / 2 FROM zones"
            " WHERE kind = 'ward' AND min_lon IS NOT NULL ORDER BY zone_id LIMIT 1"
        ).fetchone()
    if row is None:
        raise RuntimeError("the sample city has no ward with a geometry")
    zone, lon, lat = str(row[0]), float(str(row[1])), float(str(row[2]))
    path = workdir / "probes.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["device_id", "device_type", "latitude", "longitude"])
        for i in range(samples):
            kind = KINDS[i % 2]
            device_type = "weather" if kind == "offline" else "parking_bay"
            writer.writerow([f"probe-{kind}-{i:04d}", device_type, f"{lat:.6f}", f"{lon:.6f}"])
    return zone, path


def _report(
    args: argparse.Namespace,
    triggers: list[Trigger],
    latencies: dict[str, float],
    cpu: dict[str, float],
    acked: float,
    zone: str,
    devices: int,
) -> dict[str, Any]:
    wall = cpu["wall"]
    missing = len(triggers) - len(latencies)
    # A trigger whose alert never came counts as infinitely late: it cannot help the p95.
    values = np.array([latencies.get(t.device_id, np.inf) for t in triggers], dtype=float)
    p50, p95, p99 = (float(np.percentile(values, q, method="inverted_cdf")) for q in (50, 95, 99))
    load = (acked - len(triggers)) / wall
    lines = [
        f"background: city-live, {devices:,} devices"
        + (f" replayed at {args.speed:g}x" if args.speed else " in real time")
        + f"; triggers every {args.interval:g} s on average; alerts run --tick {args.tick:g}",
        "",
        f"{'figure':<66}{'unit':>8}{'value':>12}",
        "-" * 86,
    ]

    def line(figure: str, unit: str, value: float, fmt: str = ",.3f") -> None:
        lines.append(f"{figure:<66}{unit:>8}{value:>12{fmt}}")

    line("triggers published (half offline statuses, half low batteries)", "count",
         len(triggers), ",.0f")  # fmt: skip
    line("alerts received at the webhook", "count", len(latencies), ",.0f")
    for label, q in (("p50", p50), ("p95", p95), ("p99", p99)):
        line(f"latency {label}, publish -> webhook", "s", q)
    line("latency max (of those received)", "s", max(latencies.values(), default=np.nan))
    groups = [(f"{kind} triggers only", [t for t in triggers if t.kind == kind]) for kind in KINDS]
    if not args.speed:
        bursts = _bursts(triggers[0].published, triggers[-1].published)
        near = [t for t in triggers if any(abs(t.published - b) <= 60 for b in bursts)]
        groups.append((f"the {len(near)} triggers within 60 s of the meters' burst", near))
    for label, group in groups:
        if group:
            late = np.array([latencies.get(t.device_id, np.inf) for t in group], dtype=float)
            p = float(np.percentile(late, 95, method="inverted_cdf"))
            line(f"latency p95, {label}", "s", p)
    line("background load ingested (city messages, triggers excluded)", "msg/s", load, ",.1f")
    line(
        "alert service CPU (alerts run), share of one core", "%", 100 * cpu["alerts"] / wall, ",.1f"
    )
    line("alert service CPU, share of all CPU used on the machine", "%",
         100 * cpu["alerts"] / cpu["machine"] if cpu["machine"] else 0.0, ",.1f")  # fmt: skip
    for name in ("ingest", "simulate", "broker", "postgresql"):
        line(f"CPU share of one core: {name}", "%", 100 * cpu[name] / wall, ",.1f")
    line("machine busy (every process), share of all cores", "%",
         100 * cpu["machine"] / cpu["capacity"], ",.1f")  # fmt: skip
    line("measured over", "s", wall, ",.1f")
    verdict = "PASS" if p95 <= TARGET_P95_S else "MISS"
    lines += ["", f"{verdict}  p95 <= {TARGET_P95_S:g} s from publish to alert (measured {p95:.3f} s"
              f"{f', {missing} never arrived' if missing else ''})"]  # fmt: skip
    return {
        "text": "\n".join(lines),
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "missing": missing,
        "verdict": verdict,
        "load_msg_s": load,
        "cpu": cpu,
        "zone": zone,
        "latencies": {t.device_id: latencies.get(t.device_id) for t in triggers},
        "settings": vars(args),
    }


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CIVICPULSE, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"civicpulse {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _acked(port: int) -> float:
    try:
        return scrape(port).get(ACKED, 0.0)
    except OSError:
        return 0.0


BURST_S = 1800
"""The sample city's 8,100 meters all read on the half-hour: a burst every 30 minutes."""


def _warmup(args: argparse.Namespace) -> float:
    """Seconds to wait before measuring: at least ``--warmup``, and in real time long enough
    that the meters' next half-hourly burst falls in the middle of the measurement."""
    if args.no_burst or args.speed:
        return float(args.warmup)
    span = float(args.samples * args.interval)
    now = time.time()
    start = now + float(args.warmup)
    burst = float((start + span / 2) // BURST_S * BURST_S + BURST_S)
    return burst - span / 2 - now


def _bursts(start: float, end: float) -> list[float]:
    first = int(start // BURST_S + 1) * BURST_S
    return [float(t) for t in range(first, int(end) + 1, BURST_S)]


def _steady(port: int, seconds: float = 3.0) -> Callable[[], bool]:
    """True once ingest's acknowledged count has not moved for ``seconds``."""
    seen = [-1.0, time.monotonic()]

    def steady() -> bool:
        acked = _acked(port)
        if acked != seen[0]:
            seen[:] = [acked, time.monotonic()]
        return time.monotonic() - seen[1] >= seconds

    return steady


def _after(seconds: float) -> Callable[[], bool]:
    until = time.monotonic() + seconds
    return lambda: time.monotonic() >= until


if __name__ == "__main__":
    sys.exit(main())
