"""TimescaleDB's storage policies: columnstore (compression), retention, aggregate refresh."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import orjson
import psycopg

from civicpulse.errors import ConfigError
from devices.model import DeviceType

MIN_RETENTION_DAYS = 4
"""The daily aggregate is refreshed over the retained raw data less a day at each end, and a
refresh needs two whole days: a shorter retention leaves no window to refresh."""


@dataclass(frozen=True, slots=True)
class Policies:
    """TimescaleDB policy settings, in days; 0 disables a policy."""

    compress_after_days: int = 7
    raw_retention_days: int = 395
    hourly_retention_days: int = 3650
    daily_retention_days: int = 0

    def __post_init__(self) -> None:
        for name in (
            "compress_after_days",
            "raw_retention_days",
            "hourly_retention_days",
            "daily_retention_days",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"CIVICPULSE_{name.upper()}", "must be 0 or more days")
        for name in ("raw_retention_days", "hourly_retention_days"):
            days = getattr(self, name)
            if 0 < days < MIN_RETENTION_DAYS:
                raise ConfigError(
                    f"CIVICPULSE_{name.upper()}",
                    f"{days} is too short: 0 (keep for ever) or at least {MIN_RETENTION_DAYS}"
                    " days, so that the daily rollup has whole days left to be refreshed from",
                )

    def expected_jobs(self, types: Iterable[DeviceType]) -> set[tuple[str, str]]:
        """``(relation, job)`` pairs these settings put in place for ``types``."""
        jobs: set[tuple[str, str]] = set()
        for t in types:
            if self.compress_after_days:
                jobs.add((t.table, "policy_compression"))
            if self.raw_retention_days:
                jobs.add((t.table, "policy_retention"))
            for grain, keep in (
                ("hourly", self.hourly_retention_days),
                ("daily", self.daily_retention_days),
            ):
                jobs.add((f"{t.prefix}_{grain}", "policy_refresh_continuous_aggregate"))
                if keep:
                    jobs.add((f"{t.prefix}_{grain}", "policy_retention"))
        return jobs


def _version_tuple(version: str | None) -> tuple[int, ...]:
    parts = (version or "0").split("-")[0].split(".")
    return tuple(int(p) for p in parts if p.isdigit())


_RECORD_KEY = "timescaledb.policies"


async def apply_policies(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    types: Iterable[DeviceType],
    policies: Policies,
    version: str | None,
) -> tuple[str, ...]:
    """Columnstore/compression, retention and continuous-aggregate refresh policies.

    Left alone when the settings are those last applied and every job is in place: re-making
    them would lose their run history and set every job off at once.
    """
    types = list(types)
    wanted = {"settings": asdict(policies), "tables": sorted(t.table for t in types)}
    cur = await conn.execute("SELECT value FROM civicpulse_meta WHERE key = %s", (_RECORD_KEY,))
    row = await cur.fetchone()
    cur = await conn.execute(
        "SELECT hypertable_name, proc_name FROM timescaledb_information.jobs"
        " WHERE proc_name LIKE 'policy_%%' AND scheduled"
    )
    present = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
    if (
        row is not None
        and orjson.loads(str(row[0])) == wanted
        and policies.expected_jobs(types) <= present
    ):
        return ("unchanged (as last applied)",)
    done = await _apply(conn, types, policies, version)
    await conn.execute(
        "INSERT INTO civicpulse_meta (key, value) VALUES (%s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_RECORD_KEY, orjson.dumps(wanted).decode()),
    )
    return done


async def _apply(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    types: list[DeviceType],
    policies: Policies,
    version: str | None,
) -> tuple[str, ...]:
    columnstore = _version_tuple(version) >= (2, 18)
    done: list[str] = []
    async with conn.transaction():
        for table in (t.table for t in types):
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
        for prefix in (t.prefix for t in types):
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
