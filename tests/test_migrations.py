"""Migrations on real databases: empty, re-applied, and in TimescaleDB mode where available."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg.conninfo
import pytest

from civicpulse.errors import StorageError
from devices.types import DEVICE_TYPES
from storage import migrate as storage_migrate
from storage.connection import Mode
from storage.migrate import migrate
from storage.migrations import MIGRATIONS
from tests.conftest import TIMESCALEDB_SERVER, create_database, drop_database, needs_timescaledb

ROLLUP_VIEWS = [
    f"{t.table.removesuffix('_readings')}_{g}"
    for t in DEVICE_TYPES.values()
    for g in ("hourly", "daily")
]


def _columns(url: str, relation: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum",
            (relation,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_migrate_empty_database_then_again(empty_db: str) -> None:
    first = asyncio.run(migrate(empty_db, timescaledb="off"))
    assert first.mode is Mode.POSTGRES
    assert first.applied == tuple(m.version for m in MIGRATIONS)
    second = asyncio.run(migrate(empty_db, timescaledb="off"))
    assert second.applied == ()
    assert second.mode is Mode.POSTGRES
    with psycopg.connect(empty_db) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in MIGRATIONS]


def test_auto_mode_falls_back_to_postgres_and_says_why(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        row = conn.execute(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
            " current_setting('shared_preload_libraries')"
        ).fetchone()
    assert row is not None
    if "timescaledb" in str(row[1]):
        pytest.skip("this server preloads TimescaleDB; the fallback is for servers without it")
    report = asyncio.run(migrate(empty_db, timescaledb="auto"))
    assert report.mode is Mode.POSTGRES
    assert "timescaledb" in report.reason


def test_concurrent_migrations_apply_once(empty_db: str) -> None:
    async def both() -> list[tuple[int, ...]]:
        reports = await asyncio.gather(*(migrate(empty_db, timescaledb="off") for _ in range(3)))
        return [r.applied for r in reports]

    applied = asyncio.run(both())
    assert sorted(applied, key=len)[-1] == tuple(m.version for m in MIGRATIONS)
    assert sum(len(a) for a in applied) == len(MIGRATIONS)


def test_tables_match_device_types(db: str) -> None:
    for device_type in DEVICE_TYPES.values():
        assert _columns(db, device_type.table) == [
            "device_id",
            "ts",
            "seq",
            "received_at",
            *device_type.columns,
        ]


def _rollup_columns(url: str) -> dict[str, list[str]]:
    return {view: _columns(url, view) for view in ROLLUP_VIEWS}


@needs_timescaledb
def test_timescaledb_mode_has_the_same_relations(db: str) -> None:
    assert TIMESCALEDB_SERVER is not None
    url = create_database(TIMESCALEDB_SERVER)
    try:
        report = asyncio.run(migrate(url, timescaledb="on"))
        assert report.mode is Mode.TIMESCALEDB
        assert report.timescaledb_version
        again = asyncio.run(migrate(url, timescaledb="on"))
        assert again.applied == ()
        # Same columns, same order, in both modes: queries work identically.
        for device_type in DEVICE_TYPES.values():
            assert _columns(url, device_type.table) == _columns(db, device_type.table)
        assert _rollup_columns(url) == _rollup_columns(db)
        with psycopg.connect(url) as conn:
            hypertables = {
                str(r[0])
                for r in conn.execute(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables"
                    " WHERE compression_enabled"
                )
            }
            caggs = {
                str(r[0])
                for r in conn.execute(
                    "SELECT view_name FROM timescaledb_information.continuous_aggregates"
                )
            }
            jobs = [
                str(r[0])
                for r in conn.execute(
                    "SELECT proc_name FROM timescaledb_information.jobs WHERE job_id >= 1000"
                )
            ]
        assert hypertables == {t.table for t in DEVICE_TYPES.values()}
        assert caggs == set(ROLLUP_VIEWS)
        types = len(DEVICE_TYPES)
        assert jobs.count("policy_compression") == types
        assert jobs.count("policy_refresh_continuous_aggregate") == 2 * types
        assert jobs.count("policy_retention") >= types
        # The consent views exist in both modes too.
        assert _columns(url, "smart_meter_daily_permitted") == _columns(
            db, "smart_meter_daily_permitted"
        )
    finally:
        drop_database(TIMESCALEDB_SERVER, url)


def test_a_race_with_a_timescaledb_job_is_tried_again(
    empty_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A chunk made or dropped by a background job while an ALTER or GRANT reaches a
    hypertable's chunks fails that statement; the whole step rolls back, so migrate runs again.
    The race is a job's timing, not reproducible on demand: the first attempt is made to fail
    as it does, then the real migration runs."""
    real = storage_migrate._migrate
    calls = 0

    async def racing(*args: Any) -> storage_migrate.MigrationReport:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StorageError("migrate", "tuple concurrently deleted")
        return await real(*args)

    monkeypatch.setattr(storage_migrate, "_migrate", racing)
    report = asyncio.run(migrate(empty_db, timescaledb="off"))
    assert calls == 2 and report.current == max(m.version for m in MIGRATIONS)
    assert "tuple concurrently deleted (a background job); trying again" in caplog.text
    # Any other failure is not retried.
    monkeypatch.setattr(storage_migrate, "_migrate", real)
    missing = psycopg.conninfo.make_conninfo(empty_db, dbname="no_such_database")
    with pytest.raises(StorageError, match="does not exist"):
        asyncio.run(migrate(missing, timescaledb="off"))
