"""Is the demo's trial result luck? Run the demo's home energy tour for month pairs in ingest's
window, each in a fresh database, and print each estimate and whether its interval covers the
injected effect.

The tour's fleet is fixed per month (``civicpulse.cli.demo_energy_city``), so the demo run in a
given month reaches the estimate printed here for that month's pair, every time.

    .venv/bin/python -m bench.energy_tour --server postgresql://postgres@127.0.0.1:5432/postgres \\
        --mqtt mqtt://127.0.0.1:1883 [--pairs 11]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import re
import time
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from analytics.nudges import Period
from civicpulse.cli.demo import ingesting
from civicpulse.cli.demo_energy import energy_tour
from civicpulse.cli.demo_energy_city import Months
from civicpulse.embedded.mail import mail_catcher
from storage.migrate import migrate

_ESTIMATE = re.compile(r"\): ([+-][\d.]+%) \(95% CI ([+-][\d.]+%) to ([+-][\d.]+%)\)")


def _pairs(count: int) -> list[Months]:
    """The ``count`` latest month pairs, newest first (the demo's pair is the first)."""
    pairs, today = [], datetime.now(UTC).date()
    for _ in range(count):
        months = Months.before(today)
        pairs.append(months)
        today = months.post.start
    return pairs


async def _one(server: str, mqtt: str, months: Months) -> tuple[bool, str, float]:
    name = f"cp_energy_tour_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    began = time.perf_counter()
    try:
        await migrate(url, timescaledb="off")
        out = io.StringIO()
        async with ingesting(url, mqtt, "5", f"bench-{name}") as publish:
            if publish is None:
                return False, "ingest could not connect", 0.0
            with mail_catcher() as mail, contextlib.redirect_stdout(out):
                ok = await energy_tour(
                    url, publish, name, mail, public_url="http://127.0.0.1:8000", months=months
                )
        text = out.getvalue()
        found = _ESTIMATE.search(text)
        line = " ".join(found.groups()) if found else text.strip().splitlines()[-1]
        return ok, line, time.perf_counter() - began
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server", required=True, help="a PostgreSQL URL that may create databases"
    )
    parser.add_argument("--mqtt", required=True, help="the broker")
    parser.add_argument("--pairs", type=int, default=11, help="month pairs, newest first")
    args = parser.parse_args()
    failures = 0
    for months in _pairs(args.pairs):
        ok, line, seconds = asyncio.run(_one(args.server, args.mqtt, months))
        failures += not ok
        label = f"{_short(months.pre)} -> {_short(months.post)}"
        print(f"{label}: {'ok    ' if ok else 'FAILED'} {line}  ({seconds:.0f} s)", flush=True)
    print(f"{args.pairs - failures} of {args.pairs} month pairs: every step of the tour held")
    return 1 if failures else 0


def _short(period: Period) -> str:
    return f"{period.start:%Y-%m}"


if __name__ == "__main__":
    raise SystemExit(main())
