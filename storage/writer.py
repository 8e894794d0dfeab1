"""Write prepared batches to PostgreSQL/TimescaleDB in one transaction (psycopg adapter).

Readings go through a binary COPY into a temporary staging table, then
``INSERT … SELECT … ON CONFLICT DO NOTHING`` on the natural key ``(device_id, ts)``: COPY's speed
with idempotence, so a redelivered message never makes a second row. On plain PostgreSQL the same
statement maintains the hourly and daily rollup tables from exactly the rows it inserted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import psycopg
from psycopg import sql

from devices.model import DeviceType, StatusChange
from storage.batch import Prepared, QuarantineRow
from storage.connection import Conn, Mode, connect
from storage.errors import translated
from storage.feed import FEED_CHANNEL, STATUS_CHANGES, feed_payloads

logger = logging.getLogger(__name__)

_COMMON_TYPES = ["text", "timestamptz", "int8", "timestamptz"]
_NOT_A_DEVICE = frozenset({"unknown_device", "bad_topic"})
_QUARANTINE_TYPES = [
    "timestamptz",
    "timestamptz",
    "int4",
    "text",
    "text",
    "int4",
    "text",
    "text",
    "bytea",
    "bytea",
]


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: dict[str, int]
    duplicates: dict[str, int]
    quarantined: int
    status_changes: int


class Store:
    """One database connection that writes batches. Not shared between tasks."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[tuple[object, ...]],
        mode: Mode,
        types: Mapping[str, DeviceType],
    ) -> None:
        self._conn = conn
        self._mode = mode
        self._types = types
        self._copy_types = {
            name: _COMMON_TYPES + ["bool" if f.kind == "bool" else "float8" for f in t.fields]
            for name, t in types.items()
        }
        self._column_list = {name: _columns(t) for name, t in types.items()}
        self._insert_sql = {name: self._insert_statement(t) for name, t in types.items()}

    @classmethod
    async def open(cls, url: str, mode: Mode, types: Mapping[str, DeviceType]) -> Store:
        conn = await connect(url)
        async with translated("prepare the write connection"):
            await cls._stage(conn, types)
        return cls(conn, mode, types)

    @staticmethod
    async def _stage(conn: Conn, types: Mapping[str, DeviceType]) -> None:
        for device_type in types.values():
            await conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS"
                ).format(
                    sql.Identifier(f"stage_{device_type.table}"), sql.Identifier(device_type.table)
                )
            )
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_quarantine (received_at timestamptz,"
            " last_received_at timestamptz, deliveries int4, topic text, device_id text, item int4,"
            " reason text, detail text, payload bytea, payload_sha256 bytea) ON COMMIT DELETE ROWS"
        )
        await conn.commit()

    @property
    def connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        return self._conn

    @property
    def closed(self) -> bool:
        return self._conn.closed

    async def close(self) -> None:
        """Close the connection; closing a broken one is not an error."""
        with contextlib.suppress(psycopg.Error):
            await self._conn.close()

    async def write(self, batch: Prepared) -> WriteResult:
        """Store a batch atomically, or raise :class:`StorageError` after a rollback."""
        async with translated("write a batch"):
            return await self._write(batch)

    async def _write(self, batch: Prepared) -> WriteResult:
        inserted: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        conn = self._conn
        try:
            async with conn.cursor() as cur:
                for type_name, rows in batch.rows.items():
                    table = self._types[type_name].table
                    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                        sql.Identifier(f"stage_{table}"), self._column_list[type_name]
                    )
                    async with cur.copy(copy_sql) as copy:
                        copy.set_types(self._copy_types[type_name])
                        for row in rows:
                            await copy.write_row(row)
                    await cur.execute(self._insert_sql[type_name])
                    result = await cur.fetchone()
                    count = int(str(result[0])) if result else 0
                    inserted[type_name] = count
                    duplicates[type_name] = len(rows) - count
                    if count and result is not None:
                        await _notify(cur, type_name, result[1], result[2], result[3])  # type: ignore[arg-type]
                quarantined = await self._quarantine(cur, batch.quarantine)
                changes = await self._statuses(cur, batch.statuses)
            await conn.commit()
        except BaseException:
            if not conn.closed:
                try:
                    await conn.rollback()
                except psycopg.Error:
                    logger.debug("rollback failed on a broken connection", exc_info=True)
            raise
        return WriteResult(inserted, duplicates, quarantined, changes)

    async def _quarantine(
        self, cur: psycopg.AsyncCursor[tuple[object, ...]], rows: Sequence[QuarantineRow]
    ) -> int:
        if not rows:
            return 0
        # One row per (topic, payload, item, reason): a redelivery bumps `deliveries`.
        merged: dict[tuple[str, bytes, int, str], tuple[QuarantineRow, datetime, int]] = {}
        for row in rows:
            key = (row.topic, hashlib.sha256(row.payload).digest(), row.item, row.reason.value)
            found = merged.get(key)
            if found is None:
                merged[key] = (row, row.received_at, 1)
            else:
                merged[key] = (found[0], max(found[1], row.received_at), found[2] + 1)
        async with cur.copy("COPY stage_quarantine FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_QUARANTINE_TYPES)
            for (_, digest, _, _), (row, last, deliveries) in merged.items():
                await copy.write_row(
                    (
                        row.received_at,
                        last,
                        deliveries,
                        row.topic,
                        row.device_id,
                        row.item,
                        row.reason.value,
                        row.detail,
                        row.payload,
                        digest,
                    )
                )
        await cur.execute(
            "INSERT INTO quarantine AS q (received_at, last_received_at, deliveries, topic,"
            " device_id, item, reason, detail, payload, payload_sha256)"
            " SELECT * FROM stage_quarantine"
            " ON CONFLICT (topic, payload_sha256, item, reason) DO UPDATE SET"
            " deliveries = q.deliveries + excluded.deliveries,"
            " last_received_at = greatest(q.last_received_at, excluded.last_received_at)"
        )
        # A device whose messages are all refused is talking: health shows it with its rate.
        per_device: dict[str, tuple[datetime, int]] = {}
        for row in rows:
            if row.device_id is not None and row.reason.value not in _NOT_A_DEVICE:
                last, count = per_device.get(row.device_id, (row.received_at, 0))
                per_device[row.device_id] = (max(last, row.received_at), count + 1)
        if per_device:
            ids = sorted(per_device)
            await cur.execute(
                "INSERT INTO device_last_seen AS l (device_id, last_quarantined_at, quarantined)"
                " SELECT d.id, d.at, d.n FROM devices"
                " JOIN unnest(%s::text[], %s::timestamptz[], %s::int8[]) AS d(id, at, n)"
                "   ON devices.device_id = d.id"
                " ORDER BY d.id"
                " ON CONFLICT (device_id) DO UPDATE SET quarantined = l.quarantined + excluded.quarantined,"
                " last_quarantined_at = greatest(l.last_quarantined_at, excluded.last_quarantined_at)",
                (ids, [per_device[i][0] for i in ids], [per_device[i][1] for i in ids]),
            )
        return len(rows)

    async def _statuses(
        self, cur: psycopg.AsyncCursor[tuple[object, ...]], statuses: Sequence[StatusChange]
    ) -> int:
        if not statuses:
            return 0
        # Keep only changes: consecutive repeats of one device's state are the same fact.
        changes = []
        ordered = sorted(statuses, key=lambda s: (s.device_id, s.ts))
        for _, group in groupby(ordered, key=lambda s: s.device_id):
            previous: bool | None = None
            for status in group:
                if status.online != previous:
                    changes.append(status)
                previous = status.online
        await cur.execute(
            "INSERT INTO device_status (device_id, ts, online)"
            " SELECT s.device_id, s.ts, s.online"
            " FROM unnest(%s::text[], %s::timestamptz[], %s::bool[]) AS s(device_id, ts, online)"
            " WHERE s.online IS DISTINCT FROM (SELECT d.online FROM device_status d"
            "   WHERE d.device_id = s.device_id AND d.ts <= s.ts ORDER BY d.ts DESC LIMIT 1)"
            " ON CONFLICT DO NOTHING RETURNING device_id, ts",
            (
                [s.device_id for s in changes],
                [s.ts for s in changes],
                [s.online for s in changes],
            ),
        )
        stored = await cur.fetchall()
        if stored:
            times = [row[1] for row in stored]
            ids = sorted({str(row[0]) for row in stored})
            await _notify(cur, STATUS_CHANGES, ids, min(times), max(times))  # type: ignore[type-var, arg-type]
        return len(stored)

    def _insert_statement(self, device_type: DeviceType) -> sql.Composed:
        table = sql.Identifier(device_type.table)
        stage = sql.Identifier(f"stage_{device_type.table}")
        # Columns by name, never by position: a field added to a plugin later is added to the
        # end of the table, wherever the plugin lists it.
        columns = _columns(device_type)
        insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
            table, columns, columns, stage
        )
        ctes: list[sql.Composable] = [
            sql.SQL("ins AS ({} RETURNING *)").format(insert),
            sql.SQL("seen AS ({})").format(_LAST_SEEN),
        ]
        if self._mode is Mode.POSTGRES:
            prefix = device_type.table.removesuffix("_readings")
            ctes.append(sql.SQL("h AS ({})").format(_rollup_statement(prefix, "hour", device_type)))
            ctes.append(sql.SQL("d AS ({})").format(_rollup_statement(prefix, "day", device_type)))
        # What was inserted, not what was sent: redeliveries are no news for the change feed.
        return sql.SQL(
            "WITH {} SELECT count(*), array_agg(DISTINCT device_id), min(ts), max(ts) FROM ins"
        ).format(sql.SQL(", ").join(ctes))


async def _notify(
    cur: psycopg.AsyncCursor[tuple[object, ...]],
    type_name: str,
    device_ids: list[str],
    first: datetime,
    last: datetime,
) -> None:
    """Tell listeners (alerts, the API's live updates) what this transaction stored. PostgreSQL
    delivers a NOTIFY only when the transaction commits: nothing reacts to data not stored."""
    for payload in feed_payloads(type_name, device_ids, first, last):
        await cur.execute("SELECT pg_notify(%s, %s)", (FEED_CHANNEL, payload))


def _columns(device_type: DeviceType) -> sql.Composed:
    """The readings columns in the order rows carry them (``storage.batch.Row``)."""
    names = ("device_id", "ts", "seq", "received_at", *device_type.columns)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


# Liveness state per device from the rows just inserted (redeliveries are not news).
_LAST_SEEN = sql.SQL(
    "INSERT INTO device_last_seen AS l (device_id, last_received_at, last_ts, last_seq,"
    " battery_pct, rssi_dbm, readings)"
    " SELECT device_id, max(received_at), max(ts), (array_agg(seq ORDER BY ts DESC))[1],"
    " (array_agg(battery_pct ORDER BY ts DESC) FILTER (WHERE battery_pct IS NOT NULL))[1],"
    " (array_agg(rssi_dbm ORDER BY ts DESC) FILTER (WHERE rssi_dbm IS NOT NULL))[1], count(*)"
    " FROM ins GROUP BY device_id ORDER BY device_id"
    " ON CONFLICT (device_id) DO UPDATE SET"
    " last_received_at = greatest(l.last_received_at, excluded.last_received_at),"
    " last_seq = CASE WHEN l.last_ts IS NULL OR excluded.last_ts >= l.last_ts"
    "   THEN excluded.last_seq ELSE l.last_seq END,"
    " battery_pct = CASE WHEN l.last_ts IS NULL OR excluded.last_ts >= l.last_ts"
    "   THEN coalesce(excluded.battery_pct, l.battery_pct) ELSE l.battery_pct END,"
    " rssi_dbm = CASE WHEN l.last_ts IS NULL OR excluded.last_ts >= l.last_ts"
    "   THEN coalesce(excluded.rssi_dbm, l.rssi_dbm) ELSE l.rssi_dbm END,"
    " last_ts = greatest(l.last_ts, excluded.last_ts),"
    " readings = l.readings + excluded.readings"
)


def _rollup_statement(prefix: str, grain: str, device_type: DeviceType) -> sql.Composed:
    """Fold the rows just inserted (CTE ``ins``) into a rollup table: sums, counts, min, max."""
    target = sql.Identifier(f"{prefix}_{'hourly' if grain == 'hour' else 'daily'}_rollup")
    columns: list[sql.Composable] = [sql.SQL("bucket, device_id, samples")]
    selects: list[sql.Composable] = [
        sql.SQL("date_trunc({}, ts), device_id, count(*)").format(sql.Literal(grain))
    ]
    updates: list[sql.Composable] = [sql.SQL("samples = r.samples + excluded.samples")]
    for spec in device_type.fields:
        name = sql.Identifier(spec.name)
        value: sql.Composable = (
            sql.SQL("({})::int::double precision").format(name) if spec.kind == "bool" else name
        )
        n, s, lo, hi = (sql.Identifier(f"{spec.name}_{x}") for x in ("n", "sum", "min", "max"))
        columns.append(sql.SQL("{}, {}, {}, {}").format(n, s, lo, hi))
        selects.append(sql.SQL("count({v}), sum({v}), min({v}), max({v})").format(v=value))
        updates.append(
            sql.SQL(
                "{n} = r.{n} + excluded.{n}, {s} = coalesce(r.{s} + excluded.{s}, r.{s}, excluded.{s}),"
                " {lo} = least(r.{lo}, excluded.{lo}), {hi} = greatest(r.{hi}, excluded.{hi})"
            ).format(n=n, s=s, lo=lo, hi=hi)
        )
    return sql.SQL(
        "INSERT INTO {target} AS r ({columns}) SELECT {selects} FROM ins GROUP BY 1, 2 ORDER BY 1, 2"
        " ON CONFLICT (bucket, device_id) DO UPDATE SET {updates}"
    ).format(
        target=target,
        columns=sql.SQL(", ").join(columns),
        selects=sql.SQL(", ").join(selects),
        updates=sql.SQL(", ").join(updates),
    )
