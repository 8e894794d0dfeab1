"""Benchmark the monthly nudge run for a borough: 100,000 households from a year of daily reads.

One command, one machine: the population is simulated and ingested by the real pipeline (see
:mod:`bench.nudge_population`; ``--reuse`` keeps it for later runs), then the month's run is
timed in a process of its own (:mod:`bench.nudge_run`: database read, computation, write,
households/s, peak memory of the run and of its PostgreSQL backend), and a naive baseline is
measured next to it (:mod:`bench.nudge_naive`: one query and one Python comparison per household,
on a sample, extrapolated). The figures are printed against the targets.

    .venv/bin/python -m bench.nudges --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.database import BenchDatabase
from bench.nudge_population import HISTORY_DAYS, Population, existing, migrate, populate
from bench.nudge_report import NudgeResults
from bench.procs import REPO, interrupt_on_sigterm

logger = logging.getLogger("bench")

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
MAX_AGE_DAYS = 399
"""Ingest quarantines readings older than 400 days; the simulator refuses to start earlier."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench-nudges", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CIVICPULSE_DATABASE_URL") or DEFAULT_SERVER,
        help="server to create the bench database on (plain PostgreSQL or TimescaleDB)",
    )
    parser.add_argument("--households", type=int, default=100_000, help="default 100000")
    parser.add_argument(
        "--period",
        metavar="YYYY-MM",
        help="the month to run (default: the last month that has ended, or with --reuse the"
        " last one the kept population covers)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the population in bench_nudges_<households> and use it again when it"
        " covers the month",
    )
    parser.add_argument(
        "--naive-sample", type=int, default=500, help="households the naive baseline runs for"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="ingest workers while populating (default 1)"
    )
    parser.add_argument(
        "--readers",
        type=int,
        default=2,
        help="connections the run reads the daily data on (default 2, as `analytics nudges`)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the month once more under py-spy (not a figure) and print where it spends",
    )
    parser.add_argument("--populate-only", action="store_true", help="stop after populating")
    parser.add_argument("--keep", action="store_true", help="keep the database and work files")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    return parser


def _last_ended_month(today: date) -> date:
    """The first day of the last month that has ended."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _month_after(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    today = datetime.now(UTC).date()
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"civicpulse-bench-nudges-{stamp}-"))
    db = BenchDatabase(
        args.database_url, f"nudges_{args.households}" if args.reuse else f"nudges_{stamp}"
    )
    kept = existing(db) if args.reuse else None
    if args.period:
        month = date.fromisoformat(f"{args.period}-01")
    elif kept is not None and kept[0].households == args.households:
        month = _last_ended_month(date.fromisoformat(kept[0].end) + timedelta(days=1))
    else:
        month = _last_ended_month(today)
    end = _month_after(month)
    if end > today or (today - (end - timedelta(days=HISTORY_DAYS))).days > MAX_AGE_DAYS:
        parser.error(f"{month:%Y-%m} has not ended, or its year of history is past 400 days")
    wanted = Population.ending(args.households, end)
    context: dict[str, Any] = {"load_before": os.getloadavg(), "period": f"{month:%Y-%m}"}
    try:
        if kept is not None and kept[0] == wanted:
            logger.info("reusing the population in %s", db.name)
            figures = {**kept[1], "population": asdict(kept[0])}
        else:
            if kept is not None:
                logger.info("%s holds another population; making it again", db.name)
            db.drop()
            db.create()
            context["storage"] = migrate(db)
            figures = _populate(db, wanted, workdir, args.workers)
        context.update(_versions(db.url))
        if args.populate_only:
            print(json.dumps(figures, indent=2, default=str))
            return 0
        results = _measure(db, month, args, workdir, figures, context)
    finally:
        if args.keep or args.reuse:
            logger.info("kept database %s; work files in %s", db.name, workdir)
        else:
            db.drop()
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(results.text())
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"nudges-{stamp}.json"
    out.write_text(json.dumps(results.to_json(), indent=2, default=str) + "\n")
    print(f"\nresults written to {out}")
    return 0


def _populate(db: BenchDatabase, wanted: Population, workdir: Path, workers: int) -> dict[str, Any]:
    made = populate(db, wanted, workdir, workers=workers)
    found = existing(db)
    assert found is not None
    logger.info(
        "populated %s: %s readings in %.0f s (%s/s)",
        db.name,
        f"{wanted.readings:,}",
        made.seconds,
        f"{made.rate:,.0f}",
    )
    return {**found[1], "population": asdict(found[0])}


def _measure(
    db: BenchDatabase,
    month: date,
    args: argparse.Namespace,
    workdir: Path,
    figures: dict[str, Any],
    context: dict[str, Any],
) -> NudgeResults:
    from bench.nudge_naive import run_naive

    logger.info("the nudge run for %s, in a process of its own", f"{month:%B %Y}")
    run = _child(
        "bench.nudge_run",
        *("--database-url", db.url, "--period", f"{month:%Y-%m}", "--readers", str(args.readers)),
    )
    logger.info("the naive baseline on %d households", args.naive_sample)
    naive = run_naive(db.url, month, sample=args.naive_sample)
    profile = ""
    if args.profile:
        from bench.nudge_run import profiled

        logger.info("the nudge run again, under py-spy (not a figure)")
        profile = profiled(db.url, f"{month:%Y-%m}", workdir)
    context["load_after"] = os.getloadavg()
    return NudgeResults(
        households=args.households,
        run=run,
        naive=naive,
        population=figures,
        context=context,
        profile=profile,
    )


def _child(module: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _versions(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        ts = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    meminfo = Path("/proc/meminfo").read_text().splitlines()[0].split()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 1024 / 1024, 1),
        "postgresql": str(server[0]) if server else "?",
        "timescaledb": str(ts[0]) if ts else None,
    }


if __name__ == "__main__":
    sys.exit(main())
