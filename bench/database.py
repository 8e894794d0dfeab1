"""A fresh database per benchmark run, migrated and with the fleet registered, via the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.workload import FLEET_TYPES
from devices.types import DEVICE_TYPES

READING_TABLES = tuple(DEVICE_TYPES[name].table for name in FLEET_TYPES)
"""The tables the benchmark's messages land in."""
_EMPTIED_BETWEEN_PHASES = (
    *READING_TABLES,
    *(
        f"{t.removesuffix('_readings')}_{g}_rollup"
        for t in READING_TABLES
        for g in ("hourly", "daily")
    ),
    "quarantine",
    "device_status",
)


def civicpulse_command() -> list[str]:
    """The ``civicpulse`` console script of the running interpreter's environment."""
    return [str(Path(sys.executable).with_name("civicpulse"))]


class BenchDatabase:
    """``bench_<stamp>`` on the server of ``server_url``; dropped by :meth:`drop`."""

    def __init__(self, server_url: str, stamp: str) -> None:
        self.name = f"bench_{stamp}"
        self._server_url = server_url
        self.url = make_conninfo(server_url, dbname=self.name)

    def create(self) -> None:
        with psycopg.connect(self._server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        with psycopg.connect(self._server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )

    def env(self) -> dict[str, str]:
        """The environment for ``civicpulse`` commands against this database."""
        return {**os.environ, "CIVICPULSE_DATABASE_URL": self.url}

    def migrate(self) -> str:
        """Run ``civicpulse db migrate``; returns its first output line (the storage mode)."""
        out = self._civicpulse("db", "migrate")
        return out.splitlines()[0] if out else ""

    def import_devices(self, csv_path: Path) -> str:
        """Register the fleet with ``civicpulse devices import``; returns its summary line."""
        return self._civicpulse("devices", "import", str(csv_path)).strip()

    def _civicpulse(self, *args: str) -> str:
        done = subprocess.run(
            [*civicpulse_command(), *args], env=self.env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"civicpulse {' '.join(args)} exited with {done.returncode}: {done.stderr.strip()}"
            )
        return done.stdout

    def empty_tables(self) -> None:
        """Empty readings, rollups, quarantine and statuses (the registry stays)."""
        with psycopg.connect(self.url) as conn:
            present = [
                t
                for t in _EMPTIED_BETWEEN_PHASES
                if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone() != (None,)
            ]
            conn.execute(
                sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, present)))
            )

    def count(self, tables: tuple[str, ...] = READING_TABLES) -> int:
        """Rows in ``tables`` together."""
        with psycopg.connect(self.url) as conn:
            row = conn.execute(_count_query(tables)).fetchone()
        return int(str(row[0])) if row else 0

    def server_pids(self) -> list[int]:
        """Server processes serving this database, and the background ones (WAL writer, …)."""
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE (datname = current_database() OR datname IS NULL)"
                " AND pid <> pg_backend_pid()"
            ).fetchall()
        return [int(str(r[0])) for r in rows]

    def wait_for_rows(
        self, expected: int, timeout: float, alive: Callable[[], bool], interval: float = 0.1
    ) -> float:
        """Poll until the readings tables hold ``expected`` rows; returns the Unix time seen.

        Gives up as soon as ``alive()`` is false: the writer died and the rows will never come.
        """
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url, autocommit=True) as conn:
            query = _count_query(READING_TABLES)
            while time.monotonic() < deadline:
                if not alive():
                    raise RuntimeError("the writing process exited before all rows arrived")
                row = conn.execute(query).fetchone()
                if row is not None and int(str(row[0])) >= expected:
                    return time.time()
                time.sleep(interval)
        raise TimeoutError(f"fewer than {expected} rows after {timeout:.0f} s")


def _count_query(tables: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("SELECT {}").format(
        sql.SQL(" + ").join(
            sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(t)) for t in tables
        )
    )
