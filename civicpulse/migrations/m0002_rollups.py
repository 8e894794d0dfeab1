"""Migration 2: hourly and daily rollups with the same columns in both storage modes.

Each ``<type>_hourly`` and ``<type>_daily`` relation has ``bucket, device_id, samples`` and, per
numeric field ``f`` (booleans count as 0/1), ``f_n, f_sum, f_min, f_max, f_avg``. On TimescaleDB they
are continuous aggregates (real-time, daily built on hourly); on plain PostgreSQL they are views
over rollup tables that ingest updates in the same transaction as the readings.
"""

from __future__ import annotations

from civicpulse.db import Mode
from civicpulse.migrations.m0001_core import READING_TABLES

ROLLUPS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    table.removesuffix("_readings"): (table, columns) for table, columns in READING_TABLES.items()
}


def value_expr(name: str, sqltype: str) -> str:
    """The numeric expression a field contributes to rollups."""
    return f"({name})::int::double precision" if sqltype == "boolean" else name


def statements(mode: Mode) -> list[str]:
    out: list[str] = []
    for prefix, (table, columns) in ROLLUPS.items():
        out.extend(rollups(mode, prefix, table, columns))
    return out


def rollups(mode: Mode, prefix: str, table: str, columns: tuple[tuple[str, str], ...]) -> list[str]:
    """``<prefix>_hourly`` and ``<prefix>_daily`` for one readings table, in ``mode``."""
    if mode is Mode.TIMESCALEDB:
        return _timescaledb(prefix, table, columns)
    return _postgres(prefix, columns)


def _timescaledb(prefix: str, table: str, columns: tuple[tuple[str, str], ...]) -> list[str]:
    hourly = ",\n  ".join(
        f"count({n}) AS {n}_n, sum({v}) AS {n}_sum, min({v}) AS {n}_min, max({v}) AS {n}_max,"
        f" avg({v}) AS {n}_avg"
        for n, v in ((n, value_expr(n, t)) for n, t in columns)
    )
    daily = ",\n  ".join(
        f"sum({n}_n)::bigint AS {n}_n, sum({n}_sum) AS {n}_sum, min({n}_min) AS {n}_min,"
        f" max({n}_max) AS {n}_max, sum({n}_sum) / nullif(sum({n}_n), 0) AS {n}_avg"
        for n, _ in columns
    )
    return [
        f"CREATE MATERIALIZED VIEW {prefix}_hourly\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        "SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, device_id, count(*) AS samples,\n"
        f"  {hourly}\nFROM {table} GROUP BY 1, 2 WITH NO DATA",
        f"CREATE MATERIALIZED VIEW {prefix}_daily\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        "SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, device_id,"
        " sum(samples)::bigint AS samples,\n"
        f"  {daily}\nFROM {prefix}_hourly GROUP BY 1, 2 WITH NO DATA",
    ]


def _postgres(prefix: str, columns: tuple[tuple[str, str], ...]) -> list[str]:
    out: list[str] = []
    for grain in ("hourly", "daily"):
        cols = ",\n  ".join(
            f"{n}_n bigint NOT NULL DEFAULT 0, {n}_sum double precision,"
            f" {n}_min double precision, {n}_max double precision"
            for n, _ in columns
        )
        out.append(
            f"CREATE TABLE {prefix}_{grain}_rollup (\n"
            "  bucket timestamptz NOT NULL, device_id text NOT NULL, samples bigint NOT NULL,\n"
            f"  {cols},\n  PRIMARY KEY (bucket, device_id))"
        )
        out.append(
            f"CREATE INDEX {prefix}_{grain}_rollup_device ON {prefix}_{grain}_rollup"
            " (device_id, bucket)"
        )
        view_cols = ",\n  ".join(
            f"{n}_n, {n}_sum, {n}_min, {n}_max, {n}_sum / nullif({n}_n, 0) AS {n}_avg"
            for n, _ in columns
        )
        out.append(
            f"CREATE VIEW {prefix}_{grain} AS SELECT bucket, device_id, samples,\n  {view_cols}\n"
            f"FROM {prefix}_{grain}_rollup"
        )
    return out
