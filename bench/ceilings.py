"""The components' own ceilings on this machine: Mosquitto with its C clients, and binary COPY.

No pipeline can beat these: they bound what CivicPulse could reach if its own code cost nothing.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from bench.broker import BenchBroker
from bench.workload import Row
from devices.types import DEVICE_TYPES

CEILING_TOPIC = "bench/ceiling"


@dataclass(frozen=True, slots=True)
class Timed:
    """``count`` items handled in ``seconds``."""

    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def broker_ceiling(workdir: Path, payloads: Path, count: int, timeout: float) -> Timed:
    """``mosquitto_pub -l`` (QoS 0) to ``mosquitto_sub -C count`` (QoS 0) through a fresh broker.

    Timed from starting the publisher until the subscriber has received the last message.
    """
    with BenchBroker(workdir) as broker:
        address = ["-h", "127.0.0.1", "-p", str(broker.port), "-t", CEILING_TOPIC, "-q", "0"]
        sub = subprocess.Popen(
            ["mosquitto_sub", *address, "-i", "bench-ceiling-sub", "-C", str(count)],
            stdout=subprocess.DEVNULL,
        )
        pub: subprocess.Popen[bytes] | None = None
        try:
            broker.wait_subscribed("bench-ceiling-sub", CEILING_TOPIC)
            with payloads.open("rb") as lines:
                started = time.perf_counter()
                pub = subprocess.Popen(
                    ["mosquitto_pub", *address, "-i", "bench-ceiling-pub", "-l"], stdin=lines
                )
                sub.wait(timeout=timeout)
                elapsed = time.perf_counter() - started
                pub.wait(timeout=30)
        finally:
            for proc in (sub, pub):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if sub.returncode != 0:
            raise RuntimeError(f"mosquitto_sub exited with {sub.returncode}")
    return Timed(count, elapsed)


def database_ceiling(url: str, rows: Mapping[str, Sequence[Row]]) -> Timed:
    """Binary COPY of ``rows`` into fresh tables shaped like the readings tables, one commit.

    Each table has the readings columns and the same primary key ``(device_id, ts)``, no other
    index; the rows are built before the clock starts.
    """
    types = {name: DEVICE_TYPES[name] for name in rows}
    with psycopg.connect(url) as conn:
        for t in types.values():
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {}, PRIMARY KEY (device_id, ts))").format(
                    sql.Identifier(f"ceiling_{t.table}"), sql.Identifier(t.table)
                )
            )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            for name, t in types.items():
                copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(f"ceiling_{t.table}")
                )
                with cur.copy(copy_sql) as copy:
                    copy.set_types(
                        ["text", "timestamptz", "int8", "timestamptz"]
                        + ["bool" if f.kind == "bool" else "float8" for f in t.fields]
                    )
                    for row in rows[name]:
                        copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        for t in types.values():
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"ceiling_{t.table}")))
        conn.commit()
    return Timed(sum(len(r) for r in rows.values()), elapsed)


def write_paths(
    url: str, rows: Mapping[str, Sequence[Row]], *, batch: int = 5_000
) -> dict[str, Timed]:
    """The two ways to write a batch that holds no key already stored, in transactions of
    ``batch`` rows as ingest commits them: COPY straight into the table, and what ingest does
    for idempotence (COPY into a temporary staging table, then ``INSERT … SELECT … ON CONFLICT
    DO NOTHING``). Fresh tables with the readings' primary key, no rollups, no other index."""
    types = {name: DEVICE_TYPES[name] for name in rows}
    results: dict[str, Timed] = {}
    with psycopg.connect(url) as conn:
        for path in ("direct COPY", "staging COPY + INSERT ON CONFLICT"):
            for t in types.values():
                target = sql.Identifier(f"ceiling_{t.table}")
                conn.execute(
                    sql.SQL("CREATE TABLE {} (LIKE {}, PRIMARY KEY (device_id, ts))").format(
                        target, sql.Identifier(t.table)
                    )
                )
                conn.execute(
                    sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                        sql.Identifier(f"stage_ceiling_{t.table}"), sql.Identifier(t.table)
                    )
                )
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cur:
                for name, t in types.items():
                    staged = path != "direct COPY"
                    into = sql.Identifier(f"{'stage_' if staged else ''}ceiling_{t.table}")
                    copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(into)
                    insert = sql.SQL(
                        "INSERT INTO {} SELECT * FROM {} ON CONFLICT DO NOTHING"
                    ).format(sql.Identifier(f"ceiling_{t.table}"), into)
                    table_rows = rows[name]
                    for start in range(0, len(table_rows), batch):
                        with cur.copy(copy_sql) as copy:
                            copy.set_types(
                                ["text", "timestamptz", "int8", "timestamptz"]
                                + ["bool" if f.kind == "bool" else "float8" for f in t.fields]
                            )
                            for row in table_rows[start : start + batch]:
                                copy.write_row(row)
                        if staged:
                            cur.execute(insert)
                        conn.commit()
            results[path] = Timed(sum(len(r) for r in rows.values()), time.perf_counter() - started)
            for t in types.values():
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"ceiling_{t.table}")))
                conn.execute(
                    sql.SQL("DROP TABLE {}").format(sql.Identifier(f"stage_ceiling_{t.table}"))
                )
            conn.commit()
    return results
