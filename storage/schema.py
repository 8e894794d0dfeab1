"""The tables of each device type, generated from its plugin. Pure: SQL text, no I/O.

Every type has ``<type>_readings`` (``device_id, ts, seq, received_at`` and one typed column per
field, keyed by ``(device_id, ts)``) and two rollups, ``<prefix>_hourly`` and ``<prefix>_daily``,
with ``bucket, device_id, samples`` and per field ``f``: ``f_n, f_sum, f_min, f_max, f_avg``
(booleans count as 0/1). On TimescaleDB the readings table is a hypertable and the rollups are
real-time continuous aggregates (daily built on hourly); on plain PostgreSQL the rollups are views
over tables that ingest maintains in its write transaction. Both expose the same columns.

Personal types (smart meters) are also readable through consent views, ``<prefix>_readings_
permitted``, ``…_hourly_permitted``, ``…_daily_permitted`` and ``…_monthly_permitted``, which
show each household's data only at the granularity it consented to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from devices.model import DeviceType, FieldSpec
from storage.connection import Mode

COMMON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("device_id", "text"),
    ("ts", "timestamp with time zone"),
    ("seq", "bigint"),
    ("received_at", "timestamp with time zone"),
)
ROLLUP_STATS = ("n", "sum", "min", "max", "avg")
Grain = Literal["hourly", "daily"]

# Which consent level lets a reader see which relation (UK Data Access and Privacy Framework).
_CONSENT_FOR: dict[str, str] = {
    "readings": "d.consent = 'half_hourly'",
    "hourly": "d.consent = 'half_hourly'",
    "daily": "d.consent IN ('daily', 'half_hourly')",
}


def sql_type(spec: FieldSpec) -> str:
    """The column type of a field, as ``information_schema`` spells it."""
    return "boolean" if spec.kind == "bool" else "double precision"


def readings_columns(device_type: DeviceType) -> list[tuple[str, str]]:
    """Columns of ``<type>_readings`` in table order, with their types."""
    return [*COMMON_COLUMNS, *((f.name, sql_type(f)) for f in device_type.fields)]


def rollup_columns(device_type: DeviceType) -> list[str]:
    """Columns of ``<prefix>_hourly`` and ``<prefix>_daily``, in order."""
    names = ["bucket", "device_id", "samples"]
    for spec in device_type.fields:
        names.extend(f"{spec.name}_{stat}" for stat in ROLLUP_STATS)
    return names


def rollup_name(device_type: DeviceType, grain: Grain) -> str:
    return f"{device_type.prefix}_{grain}"


def permitted_views(device_type: DeviceType) -> tuple[str, ...]:
    """The consent views of a personal type (none for other types)."""
    if not device_type.personal:
        return ()
    p = device_type.prefix
    return (
        f"{p}_readings_permitted",
        f"{p}_hourly_permitted",
        f"{p}_daily_permitted",
        f"{p}_monthly_permitted",
    )


def restricted(device_type: DeviceType, mode: Mode) -> tuple[str, ...]:
    """Relations of a personal type that the reader role must not read directly."""
    if not device_type.personal:
        return ()
    p = device_type.prefix
    out = [device_type.table, f"{p}_hourly", f"{p}_daily"]
    if mode is Mode.POSTGRES:
        out += [f"{p}_hourly_rollup", f"{p}_daily_rollup"]
    return tuple(out)


def _value(spec: FieldSpec) -> str:
    """The numeric expression a field contributes to rollups."""
    return f"({spec.name})::int::double precision" if spec.kind == "bool" else spec.name


def create_type(mode: Mode, device_type: DeviceType, chunk_interval_days: int) -> list[str]:
    """DDL creating a type's readings table and its rollups."""
    return [*readings_table(mode, device_type, chunk_interval_days), *rollups(mode, device_type)]


def readings_table(mode: Mode, device_type: DeviceType, chunk_interval_days: int) -> list[str]:
    table = device_type.table
    columns = ",\n    ".join(
        f"{name} {sqltype}{' NOT NULL' if name in ('device_id', 'ts', 'received_at') else ''}"
        for name, sqltype in readings_columns(device_type)
    )
    out = [f"CREATE TABLE {table} (\n    {columns},\n    PRIMARY KEY (device_id, ts)\n)"]
    if mode is Mode.TIMESCALEDB:
        # create_hypertable adds the (ts DESC) index itself.
        out.append(
            f"SELECT create_hypertable('{table}', by_range('ts', "
            f"INTERVAL '{int(chunk_interval_days)} days'))"
        )
    else:
        # BRIN stays tiny and suits append-mostly time-range scans over the whole fleet; the
        # primary key serves per-device ranges.
        out.append(f"CREATE INDEX {table}_ts_brin ON {table} USING brin (ts)")
    return out


def rollups(mode: Mode, device_type: DeviceType) -> list[str]:
    """``<prefix>_hourly`` and ``<prefix>_daily`` for one type, in ``mode``."""
    if mode is Mode.TIMESCALEDB:
        return _continuous_aggregates(device_type)
    out: list[str] = []
    for grain in ("hourly", "daily"):
        out.extend(_rollup_table(device_type, grain, device_type.fields))
        out.append(_rollup_view(device_type, grain))
    return out


def drop_rollups(mode: Mode, device_type: DeviceType) -> list[str]:
    """Drop the rollup relations (and the consent views over them) to create them again."""
    p = device_type.prefix
    if mode is Mode.TIMESCALEDB:
        # The daily aggregate is built on the hourly one: CASCADE takes it and the views.
        return [f"DROP MATERIALIZED VIEW IF EXISTS {p}_hourly CASCADE"]
    return [f"DROP VIEW IF EXISTS {p}_hourly CASCADE", f"DROP VIEW IF EXISTS {p}_daily CASCADE"]


def add_fields(mode: Mode, device_type: DeviceType, new: Iterable[FieldSpec]) -> list[str]:
    """Extend a type's readings table with fields its plugin gained; the rollups follow.

    Existing rows get NULL for the new fields, which every rollup counts as missing, so plain
    PostgreSQL's rollup tables need only new zeroed columns; TimescaleDB's aggregates are made
    again (``storage.migrate`` refreshes them after the transaction).
    """
    new = list(new)
    out = [
        f"ALTER TABLE {device_type.table} "
        + ", ".join(f"ADD COLUMN {f.name} {sql_type(f)}" for f in new)
    ]
    out.extend(drop_rollups(mode, device_type))
    if mode is Mode.TIMESCALEDB:
        out.extend(_continuous_aggregates(device_type))
        return out
    for grain in ("hourly", "daily"):
        out.append(
            f"ALTER TABLE {device_type.prefix}_{grain}_rollup "
            + ", ".join(
                f"ADD COLUMN {f.name}_n bigint NOT NULL DEFAULT 0, ADD COLUMN {f.name}_sum double"
                f" precision, ADD COLUMN {f.name}_min double precision, ADD COLUMN {f.name}_max"
                " double precision"
                for f in new
            )
        )
        out.append(_rollup_view(device_type, grain))
    return out


def _continuous_aggregates(device_type: DeviceType) -> list[str]:
    p, table = device_type.prefix, device_type.table
    hourly = ",\n  ".join(
        f"count({f.name}) AS {f.name}_n, sum({v}) AS {f.name}_sum, min({v}) AS {f.name}_min,"
        f" max({v}) AS {f.name}_max, avg({v}) AS {f.name}_avg"
        for f, v in ((f, _value(f)) for f in device_type.fields)
    )
    daily = ",\n  ".join(
        f"sum({n}_n)::bigint AS {n}_n, sum({n}_sum) AS {n}_sum, min({n}_min) AS {n}_min,"
        f" max({n}_max) AS {n}_max, sum({n}_sum) / nullif(sum({n}_n), 0) AS {n}_avg"
        for n in device_type.columns
    )
    return [
        f"CREATE MATERIALIZED VIEW {p}_hourly\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        "SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, device_id, count(*) AS samples,\n"
        f"  {hourly}\nFROM {table} GROUP BY 1, 2 WITH NO DATA",
        f"CREATE MATERIALIZED VIEW {p}_daily\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        "SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, device_id,"
        " sum(samples)::bigint AS samples,\n"
        f"  {daily}\nFROM {p}_hourly GROUP BY 1, 2 WITH NO DATA",
    ]


def _rollup_table(device_type: DeviceType, grain: Grain, fields: Iterable[FieldSpec]) -> list[str]:
    name = f"{device_type.prefix}_{grain}_rollup"
    cols = ",\n  ".join(
        f"{f.name}_n bigint NOT NULL DEFAULT 0, {f.name}_sum double precision,"
        f" {f.name}_min double precision, {f.name}_max double precision"
        for f in fields
    )
    return [
        f"CREATE TABLE {name} (\n"
        "  bucket timestamptz NOT NULL, device_id text NOT NULL, samples bigint NOT NULL,\n"
        f"  {cols},\n  PRIMARY KEY (bucket, device_id))",
        f"CREATE INDEX {name}_device ON {name} (device_id, bucket)",
    ]


def _rollup_view(device_type: DeviceType, grain: Grain) -> str:
    p = device_type.prefix
    cols = ",\n  ".join(
        f"{n}_n, {n}_sum, {n}_min, {n}_max, {n}_sum / nullif({n}_n, 0) AS {n}_avg"
        for n in device_type.columns
    )
    return (
        f"CREATE VIEW {p}_{grain} AS SELECT bucket, device_id, samples,\n  {cols}\n"
        f"FROM {p}_{grain}_rollup"
    )


def consent_views(device_type: DeviceType) -> list[str]:
    """The consent views of a personal type, made anew (they depend on the rollups)."""
    if not device_type.personal:
        return []
    p = device_type.prefix
    out = [f"DROP VIEW IF EXISTS {view}" for view in permitted_views(device_type)]
    sources = {"readings": device_type.table, "hourly": f"{p}_hourly", "daily": f"{p}_daily"}
    for grain, source in sources.items():
        out.append(
            f"CREATE VIEW {p}_{grain}_permitted AS SELECT r.* FROM {source} r"
            f" JOIN devices d USING (device_id) WHERE {_CONSENT_FOR[grain]}"
        )
    monthly = ",\n  ".join(
        f"sum(r.{n}_n)::bigint AS {n}_n, sum(r.{n}_sum) AS {n}_sum, min(r.{n}_min) AS {n}_min,"
        f" max(r.{n}_max) AS {n}_max"
        for n in device_type.columns
    )
    # Monthly data is every household's floor of consent.
    out.append(
        f"CREATE VIEW {p}_monthly_permitted AS SELECT date_trunc('month', r.bucket) AS month,"
        f" r.device_id, sum(r.samples)::bigint AS samples,\n  {monthly}\n"
        f"FROM {p}_daily r JOIN devices d USING (device_id) WHERE d.consent IS NOT NULL"
        " GROUP BY 1, 2"
    )
    return out


def role_grants(role: str, listed: Iterable[str], *, listed_readable: bool) -> str:
    """A DO block giving ``role`` SELECT on every table and view in ``public`` (continuous
    aggregates included) and nothing else: on exactly the ``listed`` relations when
    ``listed_readable``, on all but them otherwise. Run again after every migration, so that
    relations made since are covered."""
    names = ", ".join(f"'{name}'" for name in listed) or "NULL"
    readable = "relation.listed" if listed_readable else "NOT relation.listed"
    return f"""
DO $$
DECLARE
    relation record;
BEGIN
    FOR relation IN
        SELECT c.relname, coalesce(c.relname IN ({names}), false) AS listed
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
    LOOP
        IF {readable} THEN
            EXECUTE format('GRANT SELECT ON %I TO {role}', relation.relname);
        ELSE
            EXECUTE format('REVOKE ALL ON %I FROM {role}', relation.relname);
        END IF;
    END LOOP;
END
$$;
"""
