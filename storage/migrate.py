"""Bring a database to the newest schema. Safe to run again at any time, and concurrently.

In order, under one advisory lock: choose the storage mode (at the first run), create or extend
each device type's tables from its plugin (``storage.schema``), apply the numbered migrations of
the platform's own tables, make the derived objects (consent views, the reader role's grants),
then, on TimescaleDB, the storage policies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import psycopg
import psycopg.conninfo

from civicpulse.errors import ConfigError, SchemaError, StorageError
from devices.model import DeviceType
from devices.types import DEVICE_TYPES
from storage import dashboard_views, schema
from storage.connection import Conn, Mode, connect, server_info
from storage.errors import first_line, translated
from storage.migrations import MIGRATIONS, Context
from storage.policies import Policies, apply_policies
from storage.rollups import refresh_rollups

logger = logging.getLogger(__name__)

__all__ = ["MigrationReport", "Policies", "migrate", "schema_drift"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
# Never readable by the reader role, whatever the plugins say.
_ALWAYS_RESTRICTED = (
    "device_credentials",
    "service_accounts",
    "quarantine",
    "alert_subscriptions",  # subscribers' own contact details
    "delivery_preferences",  # households' tokens
    "deliveries",  # who was sent what
    "energy_assignments",  # who is in which arm of a trial
    "nudges",  # one household's figures; officers see aggregates (analytics, the API)
    "api_keys",  # who holds which key, and the keys' hashes
)


@dataclass(frozen=True, slots=True)
class MigrationReport:
    mode: Mode
    reason: str
    timescaledb_version: str | None
    applied: tuple[int, ...]
    current: int
    changes: tuple[str, ...] = field(default=())
    """What the type sync did: tables created, fields added, columns kept."""
    policies: tuple[str, ...] = field(default=())


_RACE_ATTEMPTS = 3


async def migrate(
    url: str,
    *,
    timescaledb: Literal["auto", "on", "off"] = "auto",
    chunk_interval_days: int = 7,
    policies: Policies | None = None,
    types: Mapping[str, DeviceType] = DEVICE_TYPES,
) -> MigrationReport:
    """Bring the database to the newest schema; returns what was done and which mode is active.

    TimescaleDB carries a hypertable's ALTER and GRANT to each of its chunks; a background job
    creating or dropping a chunk at that moment fails the statement ("tuple concurrently
    deleted"). Each step is a transaction that rolls back whole and every step is idempotent, so
    such a failure is tried again, twice at most."""
    for attempt in range(1, _RACE_ATTEMPTS + 1):
        try:
            return await _migrate(url, timescaledb, chunk_interval_days, policies, types)
        except StorageError as error:
            if attempt == _RACE_ATTEMPTS or "concurrently" not in error.detail:
                raise
            logger.warning("migrate: %s (a background job); trying again", error.detail)
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


async def _migrate(
    url: str,
    timescaledb: Literal["auto", "on", "off"],
    chunk_interval_days: int,
    policies: Policies | None,
    types: Mapping[str, DeviceType],
) -> MigrationReport:
    policies = policies or Policies()
    async with await connect(url, autocommit=True) as conn, translated("migrate"):
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(_BOOTSTRAP)
            mode, reason = await _choose_mode(conn, timescaledb)
            changes, remade = await _sync_types(conn, mode, types, chunk_interval_days)
            applied = await _apply_migrations(conn, mode)
            async with conn.transaction():
                for statement in _derived(mode, types.values()):
                    await conn.execute(statement.encode())
            info = await server_info(conn)
            applied_policies: tuple[str, ...] = ()
            if mode is Mode.TIMESCALEDB:
                applied_policies = await apply_policies(
                    conn, types.values(), policies, info.timescaledb_installed
                )
            # Outside any transaction, as TimescaleDB requires; whole hours only, so that the
            # current hour stays real-time.
            now = datetime.now(UTC)
            for device_type in remade:
                await refresh_rollups(
                    conn, device_type, _EPOCH, now.replace(minute=0, second=0, microsecond=0)
                )
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return MigrationReport(
        mode=mode,
        reason=reason,
        timescaledb_version=info.timescaledb_installed,
        applied=tuple(applied),
        current=max(m.version for m in MIGRATIONS),
        changes=tuple(changes),
        policies=applied_policies,
    )


async def _apply_migrations(conn: Conn, mode: Mode) -> list[int]:
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {int(str(row[0])) for row in await cur.fetchall()}
    applied: list[int] = []
    context = Context(mode=mode)
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        logger.info("applying migration %d: %s (%s)", migration.version, migration.name, mode)
        async with (
            conn.transaction(),
            translated(f"migration {migration.version} ({migration.name})"),
        ):
            for statement in migration.statements(context):
                await conn.execute(statement.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, mode) VALUES (%s, %s, %s)",
                (migration.version, migration.name, mode.value),
            )
        applied.append(migration.version)
    return applied


async def table_columns(conn: Conn, relation: str) -> dict[str, str]:
    """Column name to ``information_schema`` type of a table or view in the public schema."""
    cur = await conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        (relation,),
    )
    return {str(name): str(kind) for name, kind in await cur.fetchall()}


async def _sync_types(
    conn: Conn, mode: Mode, types: Mapping[str, DeviceType], chunk_interval_days: int
) -> tuple[list[str], list[DeviceType]]:
    """Create missing type tables; add the columns of fields a plugin gained. Returns what was
    done and the types whose TimescaleDB aggregates were made again (to refresh afterwards)."""
    changes: list[str] = []
    plan: list[tuple[DeviceType, dict[str, str]]] = []
    for device_type in types.values():
        existing = await table_columns(conn, device_type.table)
        expected = dict(schema.readings_columns(device_type))
        for name, kind in expected.items():
            if name in existing and existing[name] != kind:
                raise SchemaError(
                    "migrate",
                    f"{device_type.table}.{name} is {existing[name]} in the database but"
                    f" {kind} in the {device_type.name} plugin; changing a field's kind needs"
                    " a new field name",
                )
        plan.append((device_type, existing))
    growing = [
        t for t, existing in plan if existing and any(f.name not in existing for f in t.fields)
    ]
    if mode is Mode.TIMESCALEDB and growing:
        # A policy job running on an aggregate about to be dropped makes the DROP fail
        # ("tuple concurrently deleted"): pause those jobs and let running ones finish.
        await _pause_jobs(
            conn, [schema.rollup_name(t, g) for t in growing for g in ("hourly", "daily")]
        )
    async with conn.transaction():
        for device_type, existing in plan:
            if not existing:
                for statement in schema.create_type(mode, device_type, chunk_interval_days):
                    await conn.execute(statement.encode())
                changes.append(f"created {device_type.table} and its hourly and daily rollups")
                continue
            new = [f for f in device_type.fields if f.name not in existing]
            if new:
                for statement in schema.add_fields(mode, device_type, new):
                    await conn.execute(statement.encode())
                names = ", ".join(f.name for f in new)
                changes.append(f"{device_type.table}: added {names}, and to its rollups")
            expected = dict(schema.readings_columns(device_type))
            for name in existing:
                if name not in expected:
                    changes.append(
                        f"{device_type.table}.{name}: no longer a field of {device_type.name};"
                        " kept with its data"
                    )
    for line in changes:
        logger.info("schema: %s", line)
    return changes, growing if mode is Mode.TIMESCALEDB else []


async def _pause_jobs(conn: Conn, relations: list[str], wait_s: float = 60.0) -> None:
    """Unschedule the policy jobs of ``relations`` and wait until none of them is running."""
    await conn.execute(
        "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
        " WHERE hypertable_name = ANY(%s)",
        (relations,),
    )
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        cur = await conn.execute(
            "SELECT count(*) FROM timescaledb_information.job_stats"
            " WHERE hypertable_name = ANY(%s) AND job_status = 'Running'",
            (relations,),
        )
        row = await cur.fetchone()
        if row is None or row[0] == 0:
            return
        await asyncio.sleep(0.2)
    raise StorageError("migrate", f"policy jobs on {', '.join(relations)} are still running")


def _derived(mode: Mode, types: Iterable[DeviceType]) -> list[str]:
    """Consent views and the reader role's grants, made anew from the plugins."""
    types = list(types)
    statements: list[str] = []
    for device_type in types:
        statements.extend(schema.consent_views(device_type))
    restricted = [*_ALWAYS_RESTRICTED]
    for device_type in types:
        restricted.extend(schema.restricted(device_type, mode))
    # Every table and view (continuous aggregates included) except the restricted ones.
    statements.append(schema.role_grants("civicpulse_reader", restricted, listed_readable=False))
    statements.extend(dashboard_views.statements(types))  # Grafana's role and views
    return statements


async def schema_drift(conn: Conn, types: Mapping[str, DeviceType] = DEVICE_TYPES) -> list[str]:
    """Differences between the plugins and the applied schema (empty when they agree)."""
    problems: list[str] = []
    for device_type in types.values():
        rollup: list[tuple[str, str | None]] = [
            (c, None) for c in schema.rollup_columns(device_type)
        ]
        wanted: dict[str, list[tuple[str, str | None]]] = {
            device_type.table: list(schema.readings_columns(device_type)),
            schema.rollup_name(device_type, "hourly"): rollup,
            schema.rollup_name(device_type, "daily"): rollup,
        }
        for relation, columns in wanted.items():
            found = await table_columns(conn, relation)
            if not found:
                problems.append(f"{relation} is missing")
                continue
            for name, kind in columns:
                if name not in found:
                    problems.append(f"{relation}.{name} is missing")
                elif kind is not None and found[name] != kind:
                    problems.append(f"{relation}.{name} is {found[name]}, the plugin says {kind}")
    return problems


async def _choose_mode(conn: Conn, wanted: Literal["auto", "on", "off"]) -> tuple[Mode, str]:
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
        except (psycopg.Error, StorageError) as error:
            if wanted == "on":
                raise ConfigError("CIVICPULSE_TIMESCALEDB", first_line(error)) from error
            mode = Mode.POSTGRES
            reason = f"timescaledb is available but could not be created: {first_line(error)}"
    await conn.execute(
        "INSERT INTO civicpulse_meta (key, value) VALUES ('mode', %s)", (mode.value,)
    )
    logger.info("storage mode: %s (%s)", mode, reason)
    return mode, reason


def _conninfo(conn: Conn) -> str:
    """The connection string of an open connection, password included."""
    params = conn.info.get_parameters()
    password = conn.info.password
    if password:
        params["password"] = password
    return psycopg.conninfo.make_conninfo(**params)
