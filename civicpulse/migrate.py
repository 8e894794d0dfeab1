"""Apply migrations and, on TimescaleDB, the storage policies. Safe to run again at any time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import psycopg
import psycopg.conninfo

from civicpulse.db import Mode, connect, server_info
from civicpulse.errors import ConfigError, StorageError
from civicpulse.migrations import MIGRATIONS, READING_TABLES, Context

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x63697669  # pg_advisory_lock key: one migrator at a time
_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS civicpulse_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    mode       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True, slots=True)
class Policies:
    """TimescaleDB policy settings, in days; 0 disables a policy."""

    compress_after_days: int = 7
    raw_retention_days: int = 395
    hourly_retention_days: int = 3650
    daily_retention_days: int = 0


@dataclass(frozen=True, slots=True)
class MigrationReport:
    mode: Mode
    reason: str
    timescaledb_version: str | None
    applied: tuple[int, ...]
    current: int
    policies: tuple[str, ...] = field(default=())


async def migrate(
    url: str,
    *,
    timescaledb: Literal["auto", "on", "off"] = "auto",
    chunk_interval_days: int = 7,
    policies: Policies | None = None,
) -> MigrationReport:
    """Bring the database to the newest schema; returns what was done and which mode is active."""
    policies = policies or Policies()
    async with await connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(_BOOTSTRAP)
            mode, reason = await _choose_mode(conn, timescaledb)
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {int(str(row[0])) for row in await cur.fetchall()}
            applied: list[int] = []
            context = Context(mode=mode, chunk_interval_days=chunk_interval_days)
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                logger.info(
                    "applying migration %d: %s (%s)", migration.version, migration.name, mode
                )
                try:
                    async with conn.transaction():
                        for statement in migration.statements(context):
                            await conn.execute(statement.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, mode) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, mode.value),
                        )
                except psycopg.Error as error:
                    raise StorageError(
                        f"migration {migration.version} ({migration.name})", str(error)
                    ) from error
                applied.append(migration.version)
            info = await server_info(conn)
            applied_policies: tuple[str, ...] = ()
            if mode is Mode.TIMESCALEDB:
                applied_policies = await _apply_policies(conn, policies, info.timescaledb_installed)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return MigrationReport(
        mode=mode,
        reason=reason,
        timescaledb_version=info.timescaledb_installed,
        applied=tuple(applied),
        current=max(m.version for m in MIGRATIONS),
        policies=applied_policies,
    )


async def _choose_mode(
    conn: psycopg.AsyncConnection[tuple[object, ...]], wanted: Literal["auto", "on", "off"]
) -> tuple[Mode, str]:
    info = await server_info(conn)
    if info.mode is not None:
        if info.mode is Mode.TIMESCALEDB and info.timescaledb_installed is None:
            raise StorageError("migrate", "the database was set up for TimescaleDB, which is gone")
        if wanted == "on" and info.mode is Mode.POSTGRES:
            raise ConfigError(
                "CIVICPULSE_TIMESCALEDB",
                "this database was set up on plain PostgreSQL; converting it is not supported",
            )
        return info.mode, "recorded at the first migration"
    if wanted == "off":
        mode, reason = Mode.POSTGRES, "CIVICPULSE_TIMESCALEDB=off"
    elif info.timescaledb_installed is not None:
        mode, reason = Mode.TIMESCALEDB, f"extension {info.timescaledb_installed} installed"
    elif info.timescaledb_available is None:
        if wanted == "on":
            raise ConfigError("CIVICPULSE_TIMESCALEDB", "the server has no timescaledb extension")
        mode, reason = Mode.POSTGRES, "the timescaledb extension is not available on this server"
    else:
        # Without shared_preload_libraries the server ends the session on CREATE EXTENSION,
        # so try it on a connection of its own.
        try:
            async with await connect(_conninfo(conn), autocommit=True) as trial:
                await trial.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            mode, reason = Mode.TIMESCALEDB, "created the timescaledb extension"
        except psycopg.Error as error:
            if wanted == "on":
                raise ConfigError("CIVICPULSE_TIMESCALEDB", str(error)) from error
            mode = Mode.POSTGRES
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            reason = f"timescaledb is available but could not be created: {first_line}"
    await conn.execute(
        "INSERT INTO civicpulse_meta (key, value) VALUES ('mode', %s)", (mode.value,)
    )
    logger.info("storage mode: %s (%s)", mode, reason)
    return mode, reason


def _conninfo(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> str:
    """The connection string of an open connection, password included."""
    params = conn.info.get_parameters()
    password = conn.info.password
    if password:
        params["password"] = password
    return psycopg.conninfo.make_conninfo(**params)


def _version_tuple(version: str | None) -> tuple[int, ...]:
    parts = (version or "0").split("-")[0].split(".")
    return tuple(int(p) for p in parts if p.isdigit())


async def _apply_policies(
    conn: psycopg.AsyncConnection[tuple[object, ...]], policies: Policies, version: str | None
) -> tuple[str, ...]:
    """Columnstore/compression, retention and continuous-aggregate refresh policies."""
    columnstore = _version_tuple(version) >= (2, 18)
    done: list[str] = []
    async with conn.transaction():
        for table in READING_TABLES:
            cur = await conn.execute(
                "SELECT compression_enabled FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = %s",
                (table,),
            )
            row = await cur.fetchone()
            if row is not None and not row[0]:
                if columnstore:
                    await conn.execute(
                        f"ALTER TABLE {table} SET (timescaledb.enable_columnstore,"
                        " timescaledb.segmentby = 'device_id', timescaledb.orderby = 'ts DESC')"
                    )
                else:
                    await conn.execute(
                        f"ALTER TABLE {table} SET (timescaledb.compress,"
                        " timescaledb.compress_segmentby = 'device_id',"
                        " timescaledb.compress_orderby = 'ts DESC')"
                    )
            if columnstore:
                await conn.execute(f"CALL remove_columnstore_policy('{table}', if_exists => true)")
            else:
                await conn.execute(
                    f"SELECT remove_compression_policy('{table}', if_exists => true)"
                )
            if policies.compress_after_days > 0:
                after = f"INTERVAL '{policies.compress_after_days} days'"
                if columnstore:
                    await conn.execute(f"CALL add_columnstore_policy('{table}', after => {after})")
                else:
                    await conn.execute(f"SELECT add_compression_policy('{table}', {after})")
                done.append(f"{table}: columnstore after {policies.compress_after_days} days")
            done.extend(await _retention(conn, table, policies.raw_retention_days))
        raw = policies.raw_retention_days
        for prefix in (t.removesuffix("_readings") for t in READING_TABLES):
            for view, start_days, end, schedule, keep in (
                (f"{prefix}_hourly", raw, "1 hour", "15 minutes", policies.hourly_retention_days),
                (
                    f"{prefix}_daily",
                    min(d for d in (raw, policies.hourly_retention_days) if d)
                    if (raw or policies.hourly_retention_days)
                    else 0,
                    "1 day",
                    "1 hour",
                    policies.daily_retention_days,
                ),
            ):
                # The refresh window must stay inside the retained raw data: refreshing a region
                # whose raw rows were dropped would empty the aggregate there.
                start = f"INTERVAL '{start_days - 1} days'" if start_days else "NULL"
                await conn.execute(
                    f"SELECT remove_continuous_aggregate_policy('{view}', if_exists => true)"
                )
                await conn.execute(
                    f"SELECT add_continuous_aggregate_policy('{view}', start_offset => {start},"
                    f" end_offset => INTERVAL '{end}', schedule_interval => INTERVAL '{schedule}')"
                )
                done.append(f"{view}: refresh every {schedule}")
                done.extend(await _retention(conn, view, keep))
    return tuple(done)


async def _retention(
    conn: psycopg.AsyncConnection[tuple[object, ...]], relation: str, days: int
) -> list[str]:
    await conn.execute(f"SELECT remove_retention_policy('{relation}', if_exists => true)")
    if days <= 0:
        return []
    await conn.execute(
        f"SELECT add_retention_policy('{relation}', drop_after => INTERVAL '{days} days')"
    )
    return [f"{relation}: keep {days} days"]
