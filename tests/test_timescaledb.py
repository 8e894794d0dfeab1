"""The TimescaleDB path on a real TimescaleDB: hypertables, real-time continuous aggregates kept
exact under late data, columnstore, retention, and policies run by TimescaleDB's own scheduler.

Runs where ``CIVICPULSE_TEST_TIMESCALEDB_URL`` names a server with TimescaleDB preloaded (CI
starts one with ``../shared/timescaledb/start-5433``); elsewhere every test skips, saying why.

Each test's database has its job scheduler stopped before migrate adds the policies: a new
scheduler runs every new job at once, and a policy running behind a test's back (or failing to
get a worker slot) would make the results depend on timing. Tests run the jobs they mean with
``CALL run_job``; the scheduler test starts the scheduler for the jobs it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.contract import Limits
from devices.registry import Device, validate
from devices.types import DEVICE_TYPES
from ingest.prepare import InMessage, prepare
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage.batch import Prepared, Row
from storage.connection import Mode, connect
from storage.migrate import Policies, migrate
from storage.registry import upsert
from storage.rollups import refresh_rollups
from storage.writer import Store, WriteResult
from tests.conftest import create_database, drop_database
from tests.ingest_harness import config, register, running, stored, wait_for

SERVER = os.environ.get("CIVICPULSE_TEST_TIMESCALEDB_URL")
pytestmark = [
    pytest.mark.timescaledb,
    pytest.mark.skipif(
        not SERVER,
        reason="CIVICPULSE_TEST_TIMESCALEDB_URL is not set (a server with TimescaleDB preloaded)",
    ),
]

Sync = psycopg.Connection[tuple[object, ...]]
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
FLEET_TYPES = ("air_quality", "parking_bay", "smart_meter")  # the types a Fleet simulates
_WIDTH = {"hourly": "1 hour", "daily": "1 day"}


@contextlib.asynccontextmanager
async def _database(policies: Policies | None = None) -> AsyncIterator[str]:
    """A fresh database migrated for TimescaleDB with one-day chunks, its scheduler stopped."""
    assert SERVER is not None
    db = create_database(SERVER)
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION timescaledb")
            conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
        report = await migrate(db, timescaledb="on", chunk_interval_days=1, policies=policies)
        assert report.mode is Mode.TIMESCALEDB
        yield db
    finally:
        drop_database(SERVER, db)


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _ts(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value


def _rows(fleet: Fleet, *, start: datetime, rounds: int, step: timedelta) -> Prepared:
    """What ingest would write for ``rounds`` readings of every device, ``step`` apart."""
    types = {d.device_id: DEVICE_TYPES[d.device_type] for d in fleet.devices}
    now = time.time()
    messages = fleet.messages(start=start, count=rounds * len(fleet.devices), step=step)
    batch = prepare(
        (InMessage(topic, payload, 0, 1, 0, now) for topic, payload in messages),
        types.get,
        Limits(),
        DEVICE_TYPES,
    )
    assert batch.quarantine == []
    return batch


async def _write(db: str, batch: Prepared) -> WriteResult:
    """Write ``batch`` with ingest's writer (COPY to staging, INSERT … ON CONFLICT DO NOTHING)."""
    store = await Store.open(db, Mode.TIMESCALEDB, DEVICE_TYPES)
    try:
        return await store.write(batch)
    finally:
        await store.close()


def _by_key(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (str(r[0]), _ts(r[1])))


def _raw(conn: Sync, type_name: str) -> list[Row]:
    """A readings table's rows, in the column order of :class:`Prepared` rows."""
    device_type = DEVICE_TYPES[type_name]
    columns = ", ".join(("device_id", "ts", "seq", "received_at", *device_type.columns))
    return _by_key(conn.execute(f"SELECT {columns} FROM {device_type.table}").fetchall())


def _same(a: object, b: object) -> bool:
    # Sums and averages depend on the order the database adds the rows in (materialised or not,
    # compressed or not); everything else must be equal to the bit.
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _rollup(conn: Sync, type_name: str, grain: str) -> dict[tuple[object, ...], tuple[object, ...]]:
    """``<prefix>_<grain>`` by (bucket, device_id)."""
    device_type = DEVICE_TYPES[type_name]
    stats = "".join(
        f", {f.name}_n, {f.name}_min, {f.name}_max, {f.name}_sum, {f.name}_avg"
        for f in device_type.fields
    )
    rows = conn.execute(
        f"SELECT bucket, device_id, samples{stats} FROM {device_type.prefix}_{grain}"
    ).fetchall()
    return {row[:2]: row[2:] for row in rows}


def _direct(conn: Sync, type_name: str, grain: str) -> dict[tuple[object, ...], tuple[object, ...]]:
    """What ``<prefix>_<grain>`` must show: the same statistics computed from the raw rows."""
    device_type = DEVICE_TYPES[type_name]
    values = (
        f"({f.name})::int::double precision" if f.kind == "bool" else f.name
        for f in device_type.fields
    )
    stats = "".join(f", count({v}), min({v}), max({v}), sum({v}), avg({v})" for v in values)
    rows = conn.execute(
        f"SELECT time_bucket(INTERVAL '{_WIDTH[grain]}', ts), device_id, count(*){stats}"
        f" FROM {device_type.table} GROUP BY 1, 2"
    ).fetchall()
    return {row[:2]: row[2:] for row in rows}


def _agree(
    a: dict[tuple[object, ...], tuple[object, ...]], b: dict[tuple[object, ...], tuple[object, ...]]
) -> bool:
    return a.keys() == b.keys() and all(all(map(_same, a[key], b[key])) for key in a)


def _differences(conn: Sync) -> list[str]:
    """Buckets where an hourly or daily aggregate of the fleet's types disagrees with the raw rows."""
    out: list[str] = []
    for type_name in FLEET_TYPES:
        for grain in _WIDTH:
            rolled, direct = _rollup(conn, type_name, grain), _direct(conn, type_name, grain)
            for key in sorted(rolled.keys() | direct.keys(), key=str):
                a, b = rolled.get(key), direct.get(key)
                if a is None or b is None or not all(map(_same, a, b)):
                    out.append(f"{type_name} {grain} {key}: aggregate {a}, raw rows {b}")
    return out


def _materialise(conn: Sync) -> None:
    """Materialise every whole hour and day so far, as the refresh policies do over time."""
    for type_name in FLEET_TYPES:
        prefix = DEVICE_TYPES[type_name].prefix
        for view, unit in ((f"{prefix}_hourly", "hour"), (f"{prefix}_daily", "day")):
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn.execute(
                        "CALL refresh_continuous_aggregate(%s, NULL, date_trunc(%s, now()))",
                        (view, unit),
                    )
                    break
                except psycopg.errors.LockNotAvailable:
                    # TimescaleDB refuses a refresh while another (ingest's refresh of late
                    # hours) covers the window; a policy run would meet the same and retry.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


def _watermark(conn: Sync, view: str) -> datetime | None:
    """Where the real-time part of a continuous aggregate begins (None: nothing materialised)."""
    row = conn.execute(
        "SELECT CASE WHEN w > '0001-01-01 00:00+00' THEN w END FROM (SELECT"
        " _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id))"
        " AS w FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = %s) m",
        (view,),
    ).fetchone()
    assert row is not None, f"{view} is not a continuous aggregate"
    return None if row[0] is None else _ts(row[0])


def _jobs(conn: Sync, proc: str, setting: str) -> dict[str, tuple[int, str]]:
    """Policy jobs of one kind by the relation they serve: (job id, one setting of its config)."""
    rows = conn.execute(
        "SELECT hypertable_name, job_id, config ->> %s FROM timescaledb_information.jobs"
        " WHERE proc_name = %s",
        (setting, proc),
    ).fetchall()
    return {str(name): (int(str(job)), str(value)) for name, job, value in rows}


def _chunks(conn: Sync, table: str) -> list[tuple[str, datetime, bool]]:
    """(chunk name, range end, compressed?) of a hypertable's chunks, oldest first."""
    rows = conn.execute(
        "SELECT chunk_name, range_end, is_compressed FROM timescaledb_information.chunks"
        " WHERE hypertable_name = %s ORDER BY range_start",
        (table,),
    ).fetchall()
    return [(str(name), _ts(end), bool(compressed)) for name, end, compressed in rows]


async def test_ingest_keeps_continuous_aggregates_exact_with_late_readings(
    mqtt_url: str, prefix: str
) -> None:
    """MQTT → ingest → hypertables → real-time hourly and daily aggregates, which equal direct
    aggregates of the raw rows; also after a backlog arrives for hours and a day that were already
    materialised, which only ingest's refresh of late hours can show (no policy runs here)."""
    fleet = Fleet.create(air_quality=3, parking_bay=3, smart_meter=3, prefix=prefix)
    n, step = len(fleet.devices), timedelta(minutes=15)
    # 80 rounds ending ten hours ago, starting 30 hours ago: always some of yesterday.
    start = _hour(datetime.now(UTC)) - 30 * HOUR
    messages = list(fleet.messages(start=start, count=80 * n, step=step))
    first = [m for i, m in enumerate(messages) if i // n % 2 == 0]
    backlog = [m for i, m in enumerate(messages) if i // n % 2 == 1]  # between the first ones
    redelivered = first[: 10 * n]
    async with _database() as db:
        async with await connect(db) as aconn:
            await upsert(
                aconn,
                [
                    validate(
                        Device(
                            d.device_id,
                            d.device_type,
                            consent="daily" if d.device_type == "smart_meter" else None,
                        ),
                        DEVICE_TYPES,
                    )
                    for d in fleet.devices
                ],
            )
        async with running(config(db, mqtt_url)) as ingest:
            await asyncio.to_thread(publish_all, mqtt_url, first, client_id=f"{prefix}-first")
            await wait_for(lambda: sum(stored(db, prefix).values()) >= len(first))
            with psycopg.connect(db, autocommit=True) as conn:
                _materialise(conn)
                assert _differences(conn) == []
                for type_name in FLEET_TYPES:
                    p = DEVICE_TYPES[type_name].prefix
                    hourly, daily = _watermark(conn, f"{p}_hourly"), _watermark(conn, f"{p}_daily")
                    # Every backlog hour, and at least its first day, lie below the watermarks.
                    assert hourly is not None and hourly > start + 79 * step
                    assert daily is not None and daily > start + step
                await asyncio.to_thread(
                    publish_all, mqtt_url, backlog + redelivered, client_id=f"{prefix}-backlog"
                )
                await wait_for(lambda: sum(stored(db, prefix).values()) >= len(messages))
                await wait_for(lambda: sum(ingest.metrics.duplicates.values()) >= len(redelivered))
                # Ingest refreshes the late hours within seconds of its commits.
                with contextlib.suppress(TimeoutError):
                    await wait_for(lambda: not _differences(conn), 30)
                assert _differences(conn) == []
        # Stopping, ingest refreshed whatever was left: the aggregates hold with no wait.
        assert stored(db, prefix) == {
            "air_quality_readings": 240,
            "parking_bay_readings": 240,
            "smart_meter_readings": 240,
        }
        with psycopg.connect(db) as conn:
            assert _differences(conn) == []
            days = {(start + k * step).date() for k in range(80)}
            assert len(_chunks(conn, "air_quality_readings")) == len(days)  # one-day chunks
            daily_samples = conn.execute("SELECT sum(samples) FROM parking_bay_daily").fetchone()
            assert daily_samples == (240,)
            # Meter data through the consent views only: daily consent, no sub-daily rows.
            assert conn.execute(
                "SELECT count(*) FROM smart_meter_readings_permitted"
            ).fetchone() == (0,)
            permitted = conn.execute(
                "SELECT sum(samples) FROM smart_meter_daily_permitted"
            ).fetchone()
            assert permitted == (240,)
            conn.execute("SET ROLE civicpulse_reader")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM smart_meter_readings")


async def test_columnstore_keeps_answers_and_takes_idempotent_writes(prefix: str) -> None:
    """The columnstore policy converts the chunks older than its threshold; the raw rows and the
    aggregates read back unchanged from them; ingest's writer (INSERT … ON CONFLICT DO NOTHING)
    stores new rows in compressed chunks and never a redelivered row twice."""
    fleet = Fleet.create(air_quality=2, parking_bay=2, smart_meter=2, prefix=prefix)
    now = _hour(datetime.now(UTC))
    # Every two hours from five days to three days ago: chunks the policy (2 days) converts.
    old_start = now - 5 * DAY
    old = _rows(fleet, start=old_start, rounds=24, step=2 * HOUR)
    recent = _rows(fleet, start=now - 6 * HOUR, rounds=6, step=HOUR)
    # Readings for the odd hours in between, and the old ones again with another seq.
    late = _rows(fleet, start=old_start + HOUR, rounds=23, step=2 * HOUR)
    again = {
        name: [(r[0], r[1], int(str(r[2])) + 10**6, *r[3:]) for r in rows]
        for name, rows in old.rows.items()
    }
    second = Prepared(rows={name: again[name] + late.rows[name] for name in FLEET_TYPES})
    tables = [DEVICE_TYPES[name].table for name in FLEET_TYPES]
    async with _database(Policies(compress_after_days=2)) as db:
        await register(db, fleet)
        for batch in (old, recent):
            result = await _write(db, batch)
            assert result.inserted == {name: len(rows) for name, rows in batch.rows.items()}
        with psycopg.connect(db, autocommit=True) as conn:
            enabled = conn.execute(
                "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = ANY(%s)",
                (tables,),
            ).fetchall()
            assert sorted(enabled) == [(table, True) for table in sorted(tables)]
            policies = _jobs(conn, "policy_compression", "compress_after")
            for table in tables:
                job, after = policies[table]
                assert after == "2 days"
                conn.execute("CALL run_job(%s)", (job,))
            threshold = datetime.now(UTC) - 2 * DAY
            for table in tables:
                chunks = _chunks(conn, table)
                assert [c[2] for c in chunks] == [c[1] < threshold for c in chunks]
                assert chunks[0][2] and not chunks[-1][2]
            # (a) Compressed chunks read back unchanged, directly and through the aggregates,
            # also once the aggregates are materialised from them.
            for name in FLEET_TYPES:
                assert _raw(conn, name) == _by_key(old.rows[name] + recent.rows[name])
            assert _differences(conn) == []
            _materialise(conn)
            assert _differences(conn) == []
            chunks_before = {table: _chunks(conn, table) for table in tables}
        # (b) New rows into compressed chunks; redelivered rows never twice, never overwritten.
        for attempt in range(2):
            result = await _write(db, second)
            assert result.inserted == {
                name: 0 if attempt else len(late.rows[name]) for name in FLEET_TYPES
            }
            assert result.duplicates == {
                name: len(second.rows[name]) if attempt else len(old.rows[name])
                for name in FLEET_TYPES
            }
        with psycopg.connect(db, autocommit=True) as conn:
            # No new chunk: the late rows went into the compressed ones.
            assert {table: _chunks(conn, table) for table in tables} == chunks_before
            for name in FLEET_TYPES:
                expected = old.rows[name] + recent.rows[name] + late.rows[name]
                assert _raw(conn, name) == _by_key(expected)
        # The late rows reach the materialised aggregates as ingest's refresh makes them.
        async with await connect(db, autocommit=True) as aconn:
            for name in FLEET_TYPES:
                await refresh_rollups(aconn, DEVICE_TYPES[name], old_start, old_start + 2 * DAY)
        with psycopg.connect(db) as conn:
            assert _differences(conn) == []


async def test_retention_drops_old_rows_and_aggregates_keep_their_own(prefix: str) -> None:
    """Raw readings go after 4 days, the hourly aggregate keeps 20 days and the daily one
    everything: each retention job drops what its own policy says, and a refresh policy run
    afterwards (its window inside the raw retention) takes nothing from the aggregates."""
    policies = Policies(raw_retention_days=4, hourly_retention_days=20, daily_retention_days=0)
    fleet = Fleet.create(air_quality=2, parking_bay=2, smart_meter=2, prefix=prefix)
    now = _hour(datetime.now(UTC))
    # Six hourly readings per device about 1, 3, 10 and 40 days ago: none near a threshold.
    ages = {age: _rows(fleet, start=now - age * DAY, rounds=6, step=HOUR) for age in (1, 3, 10, 40)}
    async with _database(policies) as db:
        await register(db, fleet)
        for batch in ages.values():
            await _write(db, batch)
        with psycopg.connect(db, autocommit=True) as conn:
            retention = _jobs(conn, "policy_retention", "drop_after")
            refresh = _jobs(conn, "policy_refresh_continuous_aggregate", "start_offset")
            _materialise(conn)  # as the refresh policies did while these readings were recent
            assert _differences(conn) == []
            before = {(n, g): _rollup(conn, n, g) for n in FLEET_TYPES for g in _WIDTH}
            for name in FLEET_TYPES:
                device_type = DEVICE_TYPES[name]
                hourly, daily = f"{device_type.prefix}_hourly", f"{device_type.prefix}_daily"
                assert retention[device_type.table][1] == "4 days"
                assert retention[hourly][1] == "20 days"
                assert daily not in retention
                conn.execute("CALL run_job(%s)", (retention[device_type.table][0],))
                assert _raw(conn, name) == _by_key(ages[1].rows[name] + ages[3].rows[name])
                for view in (hourly, daily):
                    conn.execute("CALL run_job(%s)", (refresh[view][0],))
                assert _agree(_rollup(conn, name, "hourly"), before[name, "hourly"])
                assert _agree(_rollup(conn, name, "daily"), before[name, "daily"])
                conn.execute("CALL run_job(%s)", (retention[hourly][0],))
                after = _rollup(conn, name, "hourly")
                kept = {(r[1], r[0]) for age in (1, 3, 10) for r in ages[age].rows[name]}
                assert set(after) == kept
                assert _agree(after, {key: before[name, "hourly"][key] for key in kept})
                days = {
                    (datetime.combine(_ts(r[1]).date(), datetime.min.time(), UTC), r[0])
                    for batch in ages.values()
                    for r in batch.rows[name]
                }
                assert set(before[name, "daily"]) == days
                assert _agree(_rollup(conn, name, "daily"), before[name, "daily"])


def _scheduler_running(conn: Sync) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'TimescaleDB Background Worker Scheduler'"
    ).fetchone()
    return row == (1,)


def _stats(conn: Sync, job: int) -> tuple[object, ...] | None:
    """(last run status, successes, failures) of a job; None before its first run."""
    return conn.execute(
        "SELECT last_run_status, total_successes, total_failures"
        " FROM timescaledb_information.job_stats WHERE job_id = %s",
        (job,),
    ).fetchone()


async def test_scheduler_runs_policies(prefix: str) -> None:
    """TimescaleDB's scheduler (not run_job) runs a columnstore and a refresh policy: both
    succeed with no failure recorded, and their work shows. (On PostgreSQL 15.20 an unpatched
    TimescaleDB 2.28 recorded every scheduled job as failed: "cannot drop portal".)"""
    fleet = Fleet.create(air_quality=2, parking_bay=0, smart_meter=0, prefix=prefix)
    now = _hour(datetime.now(UTC))
    old = _rows(fleet, start=now - 5 * DAY, rounds=24, step=2 * HOUR)
    recent = _rows(fleet, start=now - 6 * HOUR, rounds=5, step=HOUR)  # up to two hours ago
    async with _database(Policies(compress_after_days=2)) as db:
        await register(db, fleet)
        for batch in (old, recent):
            await _write(db, batch)
        with psycopg.connect(db, autocommit=True) as conn:
            # Only the two jobs under test may run once the scheduler is back.
            conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
            )
            assert not _scheduler_running(conn)
            conn.execute("SELECT _timescaledb_functions.start_background_workers()")
            await wait_for(lambda: _scheduler_running(conn), 30)
            compress, _ = _jobs(conn, "policy_compression", "compress_after")[
                "air_quality_readings"
            ]
            refresh, _ = _jobs(conn, "policy_refresh_continuous_aggregate", "end_offset")[
                "air_quality_hourly"
            ]
            assert _watermark(conn, "air_quality_hourly") is None
            assert not any(chunk[2] for chunk in _chunks(conn, "air_quality_readings"))
            for job in (compress, refresh):
                conn.execute(
                    "SELECT alter_job(%s, scheduled => true,"
                    " schedule_interval => INTERVAL '1 second', next_start => now())",
                    (job,),
                )
            with contextlib.suppress(TimeoutError):
                await wait_for(
                    lambda: all(
                        (_stats(conn, job) or ("",))[0] == "Success" for job in (compress, refresh)
                    ),
                    60,
                )
            stats = {job: _stats(conn, job) for job in (compress, refresh)}
            # A job that cannot get a worker slot is recorded as failed too: say how full they are.
            slots = conn.execute(
                "SELECT format('%s background workers running, max_worker_processes = %s',"
                " count(*) FILTER (WHERE backend_type LIKE '%launcher'"
                "   OR backend_type LIKE 'TimescaleDB%' OR backend_type LIKE 'parallel%'),"
                " current_setting('max_worker_processes')) FROM pg_stat_activity"
            ).fetchone()
            for job, row in stats.items():
                assert row is not None, f"job {job} never ran ({slots})"
                status, successes, failures = row
                assert (status, failures) == ("Success", 0), f"job {job}: {row} ({slots})"
                assert isinstance(successes, int) and successes >= 1
            # Their work: chunks older than two days converted, hours up to an hour ago materialised.
            threshold = datetime.now(UTC) - 2 * DAY
            chunks = _chunks(conn, "air_quality_readings")
            assert [c[2] for c in chunks] == [c[1] < threshold for c in chunks]
            assert chunks[0][2]
            watermark = _watermark(conn, "air_quality_hourly")
            assert watermark is not None and watermark >= now - HOUR
            assert _differences(conn) == []
