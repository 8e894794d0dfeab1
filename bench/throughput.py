"""Measure CivicPulse's throughput next to its components' ceilings and a naive baseline.

One command, one machine, the same messages for every figure:

1. broker ceiling: ``mosquitto_pub -l`` -> ``mosquitto_sub -C N`` at QoS 0;
2. database ceiling: binary COPY of the N rows into fresh tables with the readings' primary key;
3. naive baseline: paho + ``json.loads`` + one autocommit INSERT per message (fewer messages);
4. CivicPulse end to end: ``civicpulse ingest`` as its own process, N/4 then N messages at QoS 1
   from a lean publisher process, until every row is committed; peak RSS of ingest in both runs.

    .venv/bin/python -m bench.throughput --messages 200000 --devices 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from bench import ceilings, pipelines, receive, workload
from bench.database import BenchDatabase
from bench.procs import REPO, interrupt_on_sigterm
from bench.profile import summarise
from bench.report import Results

logger = logging.getLogger("bench")

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--messages", type=int, default=200_000, help="N (default 200000)")
    parser.add_argument("--devices", type=int, default=1_000, help="fleet size (default 1000)")
    parser.add_argument(
        "--naive-messages",
        type=int,
        default=20_000,
        help="messages for the naive baseline (default 20000; it is slow)",
    )
    parser.add_argument(
        "--window", type=int, default=5_000, help="publisher: unacknowledged packets at most"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CIVICPULSE_DATABASE_URL") or DEFAULT_SERVER,
        help="server to create the bench database on (default: $CIVICPULSE_DATABASE_URL or "
        f"{DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--ingest-env",
        action="append",
        default=[],
        metavar="CIVICPULSE_X=VALUE",
        help="a setting for the ingest process (repeatable), e.g. "
        "CIVICPULSE_INGEST_BATCH_MAX_ROWS=10000; printed with the results",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="ingest workers for the main runs (default: CPU count, at most 4); with more than one,"
        " a one-process run of N is measured too",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per phase at most")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="add a third, py-spy-profiled N run (not used for the figures) and print where "
        "ingest spends its time",
    )
    parser.add_argument(
        "--no-old",
        action="store_true",
        help="skip the N run through the earlier receive path (paho) kept for comparison",
    )
    parser.add_argument(
        "--no-receive", action="store_true", help="skip the receive-only backlog drains"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and work files")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    args.ingest_env = _settings(parser, args.ingest_env)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    if args.messages < 4 * args.devices:
        parser.error("--messages must be at least 4 x --devices (the N/4 run needs a round)")
    if args.naive_messages < 1 or args.devices < 3:
        parser.error("--naive-messages must be positive and --devices at least 3")
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"civicpulse-bench-{stamp}-"))
    db = BenchDatabase(args.database_url, stamp)
    try:
        results, profile = _run(args, db, workdir)
    finally:
        if args.keep:
            logger.info("kept database %s and work files in %s", db.name, workdir)
        else:
            db.drop()
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(results.text())
    if profile:
        print()
        print(profile)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{stamp}.json"
    report = results.to_json()
    if profile:
        report["profile"] = profile
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults written to {out}")
    bound = results.publisher_bound()
    if bound:
        print(
            "FAILED: the publisher was the bottleneck, so these figures measure it, not the"
            " pipeline: " + "; ".join(bound),
            file=sys.stderr,
        )
        return 1
    return 0


def _run(args: argparse.Namespace, db: BenchDatabase, workdir: Path) -> tuple[Results, str]:
    n, quarter, naive_n = args.messages, args.messages // 4, min(args.naive_messages, args.messages)
    context: dict[str, Any] = {"load_before": os.getloadavg(), "ingest_env": args.ingest_env}
    logger.info("generating %d messages from %d devices", n, args.devices)
    work = workload.build(messages=n, devices=args.devices)
    full_file = work.write_messages(workdir / "messages-full.txt", n)
    quarter_file = work.write_messages(workdir / "messages-quarter.txt", quarter)
    naive_file = work.write_messages(workdir / "messages-naive.txt", naive_n)
    payloads = work.write_payloads(workdir / "payloads.txt", n)

    logger.info("creating database %s", db.name)
    db.create()
    context["storage"] = db.migrate()
    context["registry"] = db.import_devices(work.write_devices_csv(workdir / "devices.csv"))
    context.update(_versions(db.url))
    logger.info("%s; %s", context["storage"], context["registry"])

    logger.info("broker ceiling: mosquitto_pub -> mosquitto_sub, %d messages", n)
    broker = ceilings.broker_ceiling(workdir / "ceiling", payloads, n, args.timeout)
    logger.info("database ceiling: binary COPY of %d rows", n)
    database = ceilings.database_ceiling(db.url, work.rows)
    logger.info("write paths: direct COPY against staging + INSERT ON CONFLICT, %d rows", n)
    write_paths = ceilings.write_paths(db.url, work.rows)
    common: dict[str, Any] = {"window": args.window, "timeout": args.timeout}
    logger.info("naive baseline: %d messages", naive_n)
    naive = pipelines.run_naive(db, workdir / "naive", messages=naive_file, count=naive_n, **common)
    runs = {}
    workers = int(args.ingest_env.get("CIVICPULSE_INGEST_WORKERS", args.workers))
    main_env = {"CIVICPULSE_INGEST_WORKERS": str(workers), **args.ingest_env}
    plan = [("quarter", quarter, quarter_file, main_env), ("full", n, full_file, main_env)]
    if workers > 1:
        plan.append(("single", n, full_file, {**main_env, "CIVICPULSE_INGEST_WORKERS": "1"}))
    if not args.no_old:
        plan.append(("old", n, full_file, {**main_env, "CIVICPULSE_INGEST_MQTT_CLIENT": "paho"}))
    for label, count, path, env in plan:
        logger.info(
            "CivicPulse end to end (%s, %s workers): %d messages",
            label,
            env["CIVICPULSE_INGEST_WORKERS"],
            count,
        )
        runs[label] = pipelines.run_civicpulse(
            db, workdir / label, label=label, messages=path, count=count,
            ingest_env=env, **common,
        )  # fmt: skip
    drains = []
    for kind in () if args.no_receive else ("asyncio", "paho"):
        logger.info("receive only (%s source): a backlog of %d messages", kind, n)
        drains.append(
            receive.drain_rate(
                workdir / f"receive-{kind}", kind=kind, messages=full_file, count=n, **common
            )
        )
    profile = ""
    if args.profile:
        logger.info("profiled CivicPulse run (not a figure): %d messages", n)
        profiled = pipelines.run_civicpulse(
            db, workdir / "profiled", label="profiled", messages=full_file, count=n,
            ingest_env=args.ingest_env, profile=True, **common,
        )  # fmt: skip
        assert profiled.profile is not None
        profile = (
            f"profile of the ingest process: py-spy --gil, samples of the thread holding the GIL"
            f" ({profiled.rate:,.0f} msg/s while sampled)\n{summarise(Path(profiled.profile))}"
        )
    context["load_after"] = os.getloadavg()
    results = Results(
        messages=n,
        devices=args.devices,
        broker=broker,
        database=database,
        naive=naive,
        quarter=runs["quarter"],
        full=runs["full"],
        single=runs.get("single"),
        workers=workers,
        old=runs.get("old"),
        write_paths=write_paths,
        receive=tuple(drains),
        context=context,
    )
    return results, profile


def _settings(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("CIVICPULSE_"):
            parser.error(f"--ingest-env expects CIVICPULSE_NAME=VALUE, got {pair!r}")
        out[key] = value
    return out


def _versions(url: str) -> dict[str, Any]:
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, check=False)
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    meminfo = Path("/proc/meminfo").read_text().splitlines()[0].split()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "mosquitto": mosquitto.stdout.splitlines()[0] if mosquitto.stdout else "?",
        "postgresql": str(row[0]) if row else "?",
        "psycopg": version("psycopg"),
        "paho-mqtt": version("paho-mqtt"),
    }


if __name__ == "__main__":
    sys.exit(main())
