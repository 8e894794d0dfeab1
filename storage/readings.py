"""The read side: readings and rollups by device or zone, and each device's latest state.

Analytics, the API and the dashboards read time series through these functions instead of
writing their own SQL. They read the same relations in both storage modes. For personal types
(smart meters) they read the consent views, so a household's data comes back only at the
granularity it consented to, whichever role the connection has.

Results are frozen rows for the API's pages, or numpy columns (:func:`rollup_columns`) for
analytics over a whole fleet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from psycopg import sql
from psycopg.rows import dict_row

from devices.model import DeviceType
from storage.connection import Conn
from storage.errors import storage_operation

Grain = Literal["hourly", "daily", "monthly"]
STATS = ("n", "sum", "min", "max", "avg")


@dataclass(frozen=True, slots=True)
class Selection:
    """Which devices to read: named ones, the members of a zone, or (neither) every device."""

    device_ids: Sequence[str] | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class ReadingRow:
    device_id: str
    ts: datetime
    seq: int | None
    values: Mapping[str, float | bool | None]


@dataclass(frozen=True, slots=True)
class FieldStats:
    n: int
    sum: float | None
    min: float | None
    max: float | None
    avg: float | None


@dataclass(frozen=True, slots=True)
class RollupRow:
    device_id: str
    bucket: datetime
    samples: int
    stats: Mapping[str, FieldStats]


@dataclass(frozen=True, slots=True)
class ZoneRollupRow:
    """One zone's devices of one type, aggregated per bucket."""

    zone: str
    bucket: datetime
    devices: int
    samples: int
    stats: Mapping[str, FieldStats]


@dataclass(frozen=True, slots=True)
class RollupColumns:
    """Rollup rows as numpy columns, ordered by device, then bucket."""

    device_id: npt.NDArray[np.object_]
    bucket: npt.NDArray[np.datetime64]
    samples: npt.NDArray[np.int64]
    values: Mapping[str, npt.NDArray[np.float64]]
    """``"<field>_<stat>"`` → values (NaN where there were none)."""

    def __len__(self) -> int:
        return len(self.device_id)


def relation(device_type: DeviceType, grain: Literal["raw"] | Grain) -> str:
    """The relation to read: the consent views for personal types."""
    p = device_type.prefix
    if grain == "raw":
        name = device_type.table
        return f"{name}_permitted" if device_type.personal else name
    if grain == "monthly":
        if not device_type.personal:
            raise ValueError(f"{device_type.name} has no monthly rollup; use daily")
        return f"{p}_monthly_permitted"
    return f"{p}_{grain}_permitted" if device_type.personal else f"{p}_{grain}"


def _fields(device_type: DeviceType, fields: Sequence[str] | None) -> list[str]:
    chosen = list(fields) if fields is not None else list(device_type.columns)
    unknown = [f for f in chosen if f not in device_type.by_name]
    if unknown:
        raise ValueError(f"{device_type.name} has no field {', '.join(unknown)}")
    return chosen


def _where(selection: Selection, params: dict[str, Any], alias: str = "r") -> sql.Composable:
    clauses: list[sql.Composable] = []
    device = sql.Identifier(alias, "device_id")
    if selection.device_ids is not None:
        params["ids"] = list(selection.device_ids)
        clauses.append(sql.SQL("{} = ANY(%(ids)s)").format(device))
    if selection.zone is not None:
        params["zone"] = selection.zone
        clauses.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM device_zones z WHERE z.device_id = {} AND z.zone_id = %(zone)s)"
            ).format(device)
        )
    return sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true")


@storage_operation("read readings")
async def readings(
    conn: Conn,
    device_type: DeviceType,
    *,
    start: datetime,
    end: datetime,
    selection: Selection = Selection(),
    fields: Sequence[str] | None = None,
    after: tuple[str, datetime] | None = None,
    limit: int = 10_000,
) -> list[ReadingRow]:
    """Readings with ``start <= ts < end``, ordered by device then time; ``after`` (the last
    row's ``(device_id, ts)``) continues a previous page."""
    names = _fields(device_type, fields)
    params: dict[str, Any] = {"start": start, "end": end, "limit": limit}
    page: sql.Composable = sql.SQL("true")
    if after is not None:
        params["after_id"], params["after_ts"] = after
        page = sql.SQL("(r.device_id, r.ts) > (%(after_id)s, %(after_ts)s)")
    query = sql.SQL(
        "SELECT r.device_id, r.ts, r.seq, {cols} FROM {rel} r"
        " WHERE r.ts >= %(start)s AND r.ts < %(end)s AND {where} AND {page}"
        " ORDER BY r.device_id, r.ts LIMIT %(limit)s"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier("r", n) for n in names),
        rel=sql.Identifier(relation(device_type, "raw")),
        where=_where(selection, params),
        page=page,
    )
    cur = await conn.execute(query, params)
    return [
        ReadingRow(str(row[0]), row[1], row[2], dict(zip(names, row[3:], strict=True)))  # type: ignore[arg-type]
        for row in await cur.fetchall()
    ]


@storage_operation("read the latest readings")
async def latest(
    conn: Conn,
    device_type: DeviceType,
    *,
    selection: Selection = Selection(),
    fields: Sequence[str] | None = None,
) -> list[ReadingRow]:
    """Each selected device's newest reading (devices without one are left out).

    One index probe per device (the primary key read backwards), not a scan of the table.
    """
    names = _fields(device_type, fields)
    params: dict[str, Any] = {"type": device_type.name}
    query = sql.SQL(
        "SELECT d.device_id, r.ts, r.seq, {cols} FROM devices d"
        " CROSS JOIN LATERAL (SELECT * FROM {rel} x WHERE x.device_id = d.device_id"
        "   ORDER BY x.ts DESC LIMIT 1) r"
        " WHERE d.device_type = %(type)s AND {where} ORDER BY d.device_id"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier("r", n) for n in names),
        rel=sql.Identifier(relation(device_type, "raw")),
        where=_where(selection, params, alias="d"),
    )
    cur = await conn.execute(query, params)
    return [
        ReadingRow(str(row[0]), row[1], row[2], dict(zip(names, row[3:], strict=True)))  # type: ignore[arg-type]
        for row in await cur.fetchall()
    ]


def _stat_columns(names: Sequence[str], prefix: str = "r") -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, f"{n}_{s}") for n in names for s in STATS)


def _stats(names: Sequence[str], row: Mapping[str, Any]) -> dict[str, FieldStats]:
    return {
        n: FieldStats(
            int(row[f"{n}_n"] or 0),
            row[f"{n}_sum"],
            row[f"{n}_min"],
            row[f"{n}_max"],
            row[f"{n}_avg"],
        )
        for n in names
    }


@storage_operation("read rollups")
async def rollups(
    conn: Conn,
    device_type: DeviceType,
    grain: Grain,
    *,
    start: datetime,
    end: datetime,
    selection: Selection = Selection(),
    fields: Sequence[str] | None = None,
) -> list[RollupRow]:
    """Hourly, daily (or, for personal types, monthly) rollups with buckets in ``[start, end)``."""
    names = _fields(device_type, fields)
    params: dict[str, Any] = {"start": start, "end": end}
    bucket = "month" if grain == "monthly" else "bucket"
    query = sql.SQL(
        "SELECT r.device_id, r.{bucket} AS bucket, r.samples, {cols} FROM {rel} r"
        " WHERE r.{bucket} >= %(start)s AND r.{bucket} < %(end)s AND {where}"
        " ORDER BY r.device_id, r.{bucket}"
    ).format(
        bucket=sql.Identifier(bucket),
        cols=_monthly_columns(names) if grain == "monthly" else _stat_columns(names),
        rel=sql.Identifier(relation(device_type, grain)),
        where=_where(selection, params),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    return [
        RollupRow(str(row["device_id"]), row["bucket"], int(row["samples"]), _stats(names, row))
        for row in rows
    ]


def _monthly_columns(names: Sequence[str]) -> sql.Composable:
    # The monthly view has no avg column: derive it as the other grains do.
    parts: list[sql.Composable] = []
    for n in names:
        parts.extend(sql.Identifier("r", f"{n}_{s}") for s in ("n", "sum", "min", "max"))
        parts.append(
            sql.SQL("r.{} / nullif(r.{}, 0) AS {}").format(
                sql.Identifier(f"{n}_sum"), sql.Identifier(f"{n}_n"), sql.Identifier(f"{n}_avg")
            )
        )
    return sql.SQL(", ").join(parts)


@storage_operation("read zone rollups")
async def zone_rollups(
    conn: Conn,
    device_type: DeviceType,
    grain: Literal["hourly", "daily"],
    *,
    zone: str,
    start: datetime,
    end: datetime,
    fields: Sequence[str] | None = None,
) -> list[ZoneRollupRow]:
    """A zone's devices of one type, aggregated per bucket: counts and sums add up, the mean
    is over every reading in the zone (not a mean of the devices' means)."""
    names = _fields(device_type, fields)
    params: dict[str, Any] = {"start": start, "end": end}
    parts: list[sql.Composable] = []
    for n in names:
        ident = {s: sql.Identifier(f"{n}_{s}") for s in STATS}
        parts.append(
            sql.SQL(
                "sum(r.{n})::bigint AS {n}, sum(r.{s}) AS {s}, min(r.{lo}) AS {lo},"
                " max(r.{hi}) AS {hi}, sum(r.{s}) / nullif(sum(r.{n}), 0) AS {avg}"
            ).format(
                n=ident["n"], s=ident["sum"], lo=ident["min"], hi=ident["max"], avg=ident["avg"]
            )
        )
    query = sql.SQL(
        "SELECT r.bucket, count(DISTINCT r.device_id) AS devices, sum(r.samples)::bigint AS samples,"
        " {cols} FROM {rel} r WHERE r.bucket >= %(start)s AND r.bucket < %(end)s AND {where}"
        " GROUP BY r.bucket ORDER BY r.bucket"
    ).format(
        cols=sql.SQL(", ").join(parts),
        rel=sql.Identifier(relation(device_type, grain)),
        where=_where(Selection(zone=zone), params),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        rows = await cur.fetchall()
    return [
        ZoneRollupRow(
            zone, row["bucket"], int(row["devices"]), int(row["samples"]), _stats(names, row)
        )
        for row in rows
    ]


@storage_operation("read rollup columns")
async def rollup_columns(
    conn: Conn,
    device_type: DeviceType,
    grain: Literal["hourly", "daily"],
    *,
    start: datetime,
    end: datetime,
    columns: Sequence[str],
    selection: Selection = Selection(),
) -> RollupColumns:
    """Rollups as numpy columns: ``columns`` are ``"<field>_<stat>"`` names (``"gas_m3_max"``).

    For fleet-wide analytics: one query, no per-row objects beyond the driver's tuples.
    """
    for column in columns:
        field_name, _, stat = column.rpartition("_")
        if stat not in STATS or field_name not in device_type.by_name:
            raise ValueError(f"{column!r} is not a rollup column of {device_type.name}")
    params: dict[str, Any] = {"start": start, "end": end}
    query = sql.SQL(
        "SELECT r.device_id, r.bucket, r.samples, {cols} FROM {rel} r"
        " WHERE r.bucket >= %(start)s AND r.bucket < %(end)s AND {where}"
        " ORDER BY r.device_id, r.bucket"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier("r", c) for c in columns),
        rel=sql.Identifier(relation(device_type, grain)),
        where=_where(selection, params),
    )
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    count = len(rows)
    transposed = list(zip(*rows, strict=True)) if rows else [()] * (3 + len(columns))
    values = {
        c: np.array(transposed[3 + i], dtype=np.float64) if count else np.empty(0, np.float64)
        for i, c in enumerate(columns)
    }
    return RollupColumns(
        device_id=np.array(transposed[0], dtype=object),
        bucket=np.array(
            [np.datetime64(b.replace(tzinfo=None), "us") for b in transposed[1]],
            dtype="datetime64[us]",
        ),
        samples=np.array(transposed[2], dtype=np.int64),
        values=values,
    )
