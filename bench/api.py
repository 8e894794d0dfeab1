"""The API benchmark: ``civicpulse api`` with worker processes on loopback, against this machine's
PostgreSQL holding a simulated city, loaded from other processes.

``wrk`` (closed loop) measures, alternating round by round on the same server, a minimal
endpoint (``GET /v1/me`` without a key: routing, middleware, authentication, rate limit and an
answer with its ETag, no database: the framework's ceiling here) and a zone's parking
availability. Then the resident's page at a fixed 50 requests a second, open loop
(:mod:`bench.paced`, in this process: Debian's wrk has no ``-R``). Targets, printed PASS or MISS:
availability at least 1,000 req/s with p99 <= 50 ms and at least half the ceiling; the
resident's page p99 <= 100 ms at 50 req/s. See docs/benchmarks.md.

    .venv/bin/python -m bench.api [--bays 5000] [--workers 2] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.api_city import BenchCity, build
from bench.cpu import tree
from bench.database import BenchDatabase
from bench.paced import paced
from bench.procs import REPO
from bench.profile import summarise
from civicpulse.embedded import free_port

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk run."""

    name: str
    path: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    """Non-2xx/3xx answers and socket errors: any makes the run invalid."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.splitlines()[0])
    p.add_argument(
        "--database-url", default=os.environ.get("CIVICPULSE_DATABASE_URL", DEFAULT_SERVER)
    )
    p.add_argument("--bays", type=int, default=5000, help="parking bays in the city")
    p.add_argument("--monitors", type=int, default=30)
    p.add_argument("--hours", type=float, default=24.0, help="simulated bay history")
    p.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4))
    p.add_argument("--connections", type=int, default=16, help="wrk connections (closed loop)")
    p.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=5, help="alternating ceiling/availability runs")
    p.add_argument("--resident-rate", type=int, default=50, help="resident page requests/s")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", action="store_true", help="keep the database and the logs")
    p.add_argument(
        "--profile", action="store_true", help="one more availability run under py-spy (a worker)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("bench.api: needs wrk (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    db = BenchDatabase(args.database_url, f"api_{stamp.lower()}")
    workdir = Path(tempfile.mkdtemp(prefix="civicpulse-bench-api-"))
    db.create()
    try:
        mode = _cli(db, "db", "migrate").splitlines()[0]
        loaded = _cli(
            db,
            "city",
            "load",
            "--homes",
            "1",
            "--bays",
            str(args.bays),
            "--monitors",
            str(args.monitors),
            "--seed",
            str(args.seed),
        )
        began = time.monotonic()
        city = asyncio.run(build(db.url, hours=args.hours, seed=args.seed))
        print(
            f"{loaded.strip()}; {city.reports:,} bay reports simulated in"
            f" {time.monotonic() - began:.0f} s ({mode})",
            flush=True,
        )
        loads = _serve_and_load(args, wrk, db, city, workdir)
    finally:
        if not args.keep:
            db.drop()
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept: database {db.name}, logs in {workdir}")
    return _report(args, city, loads, stamp)


def _command() -> list[str]:
    """This checkout's ``civicpulse`` (not whatever an installed console script points at)."""
    return [sys.executable, "-m", "civicpulse.cli"]


def _env(db: BenchDatabase) -> dict[str, str]:
    return {**db.env(), "PYTHONPATH": str(REPO)}


def _cli(db: BenchDatabase, *args: str) -> str:
    done = subprocess.run(
        [*_command(), *args], env=_env(db), capture_output=True, text=True, check=False, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"civicpulse {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _serve_and_load(
    args: argparse.Namespace, wrk: str, db: BenchDatabase, city: BenchCity, workdir: Path
) -> list[Load]:
    port = free_port()
    env = {
        **_env(db),
        # wrk comes from one address: the per-address limit would measure 429s.
        "CIVICPULSE_API_PUBLIC_RATE_PER_MINUTE": "1000000000",
        "CIVICPULSE_API_RATE_PER_MINUTE": "1000000000",
    }
    log = (workdir / "api.log").open("ab")
    server = subprocess.Popen(
        [*_command(), "api", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    availability = f"/v1/parking/zones/{city.zone}/availability"
    try:
        _ready(base, availability, server)
        loads: list[Load] = []
        for _ in range(args.rounds):
            loads.append(_wrk(wrk, "ceiling", base, "/v1/me", args))
            loads.append(_wrk(wrk, "availability", base, availability, args))
        if args.profile:
            _profile(wrk, base, availability, args, workdir, server.pid)
        if city.resident_token is not None:
            page = f"/residents/{city.resident_token}"
            if httpx.get(base + page, timeout=10).status_code == 200:
                loads.append(_paced(base, page, args))
        return loads
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
        log.close()


def _ready(base: str, path: str, server: subprocess.Popen[bytes]) -> None:
    """Until every worker answers: 200 consecutive 200s (workers take connections at random)."""
    deadline = time.monotonic() + 300
    good = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        while good < 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("civicpulse api did not become ready (see --keep's log)")
            try:
                ok = client.get(path).status_code == 200
            except httpx.TransportError:
                ok = False
            good = good + 1 if ok else 0
            if not ok:
                time.sleep(0.2)


def _wrk(wrk: str, name: str, base: str, path: str, args: argparse.Namespace, *extra: str) -> Load:
    command = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency", *extra]
    done = subprocess.run([*command, base + path], capture_output=True, text=True, check=True)
    load = _parse(name, path, done.stdout)
    print(
        f"  {name:<13} {load.requests_per_s:>8,.0f} req/s  p50 {load.p50_ms:6.1f} ms"
        f"  p99 {load.p99_ms:6.1f} ms  errors {load.errors}",
        flush=True,
    )
    return load


def _paced(base: str, path: str, args: argparse.Namespace) -> Load:
    """``--resident-rate`` requests a second for ``--duration`` seconds, open loop."""
    done = paced(base + path, rate=args.resident_rate, seconds=args.duration)
    load = Load(
        "resident page",
        path,
        done.rate,
        done.percentile(0.50),
        done.percentile(0.99),
        done.sent,
        done.errors,
    )
    print(
        f"  {load.name:<13} {load.requests_per_s:>8,.1f} req/s  p50 {load.p50_ms:6.1f} ms"
        f"  p99 {load.p99_ms:6.1f} ms  errors {load.errors}  (open loop)",
        flush=True,
    )
    return load


def _profile(
    wrk: str, base: str, path: str, args: argparse.Namespace, workdir: Path, server: int
) -> None:
    """An availability run with one worker under ``py-spy record --gil``; the summary printed.
    Not used for any figure."""
    worker = tree(server)[1]
    out = workdir / "api-worker.pyspy"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(worker),
            "--gil",
            "--format",
            "raw",
            "--rate",
            "250",
            "--duration",
            str(args.duration),
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wrk(wrk, "profiled", base, path, args)
    spy.wait(60)
    print(summarise(out, top=20, min_share=0.03))


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _parse(name: str, path: str, out: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, flags=re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, flags=re.M)
    count = re.search(r"(\d+) requests in", out)
    if not (rate and p50 and p99 and count):
        raise RuntimeError(f"unreadable wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return Load(
        name,
        path,
        float(rate.group(1)),
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        int(count.group(1)),
        errors,
    )


def _report(args: argparse.Namespace, city: BenchCity, loads: list[Load], stamp: str) -> int:
    def runs(name: str) -> list[Load]:
        return [load for load in loads if load.name == name]

    ceiling, zone, page = runs("ceiling"), runs("availability"), runs("resident page")
    rate = statistics.median(r.requests_per_s for r in zone)
    p99 = statistics.median(r.p99_ms for r in zone)
    # Each availability run against the ceiling run just before it: the machine is shared, and
    # its load moves more between rounds than within one.
    ratios = [z.requests_per_s / c.requests_per_s for c, z in zip(ceiling, zone, strict=True)]
    ratio = statistics.median(ratios)
    print()
    print(
        f"API benchmark: {city.bays:,} bays, zone {city.zone} ({city.zone_bays} bays);"
        f" civicpulse api --workers {args.workers}; wrk 1 thread, {args.connections}"
        f" connections, {args.rounds} x {args.duration} s each (medians); {os.cpu_count()} CPUs"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average (1, 5, 15 min) at the end: {load} (a shared machine)")
    print(f"{'':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for label, found in (
        ("minimal GET /v1/me (ceiling)", ceiling),
        (f"GET {zone[0].path}", zone),
        ("resident page", page),
    ):
        if found:
            print(
                f"{label[:33]:<34}{statistics.median(r.requests_per_s for r in found):>9,.0f}"
                f"{statistics.median(r.p50_ms for r in found):>9.1f}"
                f"{statistics.median(r.p99_ms for r in found):>9.1f}"
            )
    checks = [
        ("zone availability >= 1,000 req/s", rate >= 1000, f"{rate:,.0f} req/s"),
        ("zone availability p99 <= 50 ms", p99 <= 50, f"{p99:.1f} ms"),
        (
            "availability >= 0.5 x the ceiling (median of rounds)",
            ratio >= 0.5,
            f"{ratio:.2f} x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
        ),
        (
            "no errors in any run",
            not any(load.errors for load in loads),
            f"{sum(load.errors for load in loads)} errors",
        ),
    ]
    if page:
        checks.append(
            (
                f"resident page p99 <= 100 ms at {args.resident_rate} req/s",
                page[0].p99_ms <= 100,
                f"{page[0].p99_ms:.1f} ms at {page[0].requests_per_s:.1f} req/s",
            )
        )
    else:
        print("resident page: not measured (no /residents/{token} page answered 200)")
    print()
    for what, ok, value in checks:
        print(f"{'PASS' if ok else 'MISS'}  {what}: {value}")
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"api-{stamp}.json").write_text(
        json.dumps(
            {
                "stamp": stamp,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "args": vars(args),
                "city": asdict(city),
                "runs": [asdict(load) for load in loads],
                "checks": [{"what": w, "pass": ok, "value": v} for w, ok, v in checks],
            },
            indent=2,
        )
    )
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
