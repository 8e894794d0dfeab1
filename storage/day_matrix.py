"""Daily rollups of a whole fleet as devices x days matrices, for the monthly energy run.

A year of daily data for a borough is tens of millions of rollup rows. Fetched as rows, each
becomes a Python tuple of Python objects (minutes and gigabytes for 100,000 homes), and even a
binary ``COPY`` of them costs a protocol message and a Python step per row. Here the database
groups the rows by day: each day leaves the server as one row of arrays (the devices' positions
in the caller's list, then one array of values per column, NaN for none), in binary, and numpy
reads each array straight from the wire format. The database does the scanning and grouping; no
Python object is made per reading, and memory is the matrices plus a few days' arrays.

The query runs over blocks of days (one group of arrays per day in memory on the server at a
time per block) and, given several connections, over those concurrently, so that a machine's
cores share the scan. The rows come through the same relations as :mod:`storage.readings` (the
consent views for personal types): a household's data comes back only at the granularity it
consented to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import cast

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import postgres, sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

from devices.model import DeviceType
from storage.connection import Conn
from storage.errors import storage_operation
from storage.readings import STATS, relation

Floats = npt.NDArray[np.float64]

_ARRAY_HEADER = 20  # ndim, has-nulls flag, element type, length, lower bound: int32 each
_INT4 = np.dtype([("length", ">i4"), ("value", ">i4")])
_FLOAT8 = np.dtype([("length", ">i4"), ("value", ">f8")])
_INT4_ARRAY = postgres.types["int4"].array_oid
_FLOAT8_ARRAY = postgres.types["float8"].array_oid
DAYS_PER_QUERY = 16
"""Days a query groups: the server holds one day's arrays per day of the block at once."""
_SETTINGS = (
    # Compiling each query costs more (0.2 s) than it saves on a scan of this size.
    "SET LOCAL jit = off",
    # A block's arrays (8 days x 100,000 homes x 3) in memory, not spilled to disk by batches.
    "SET LOCAL work_mem = '128MB'",
    # A day's rows lie in runs across the whole table (ingest writes them batch by batch): a
    # bitmap scan visits each page once, an index scan in (bucket, device) order once per row.
    "SET LOCAL enable_indexscan = off",
)


@storage_operation("read daily rollups")
async def day_matrix(
    conns: Conn | Sequence[Conn],
    device_type: DeviceType,
    *,
    device_ids: Sequence[str],
    start: date,
    days: int,
    columns: Sequence[str],
) -> dict[str, Floats]:
    """``columns`` (``"<field>_<stat>"`` names, e.g. ``"gas_m3_max"``) of the daily rollups of
    ``device_ids`` over the ``days`` UTC days from ``start``: one ``len(device_ids) x days``
    matrix per column, row ``i`` for ``device_ids[i]``, NaN where there is no value.

    With several connections (``conns``), blocks of days are read on each concurrently.
    """
    for column in columns:
        field_name, _, stat = column.rpartition("_")
        if stat not in STATS or field_name not in device_type.by_name:
            raise ValueError(f"{column!r} is not a rollup column of {device_type.name}")
    out = {c: np.full((len(device_ids), days), np.nan) for c in columns}
    if not device_ids or days <= 0:
        return out
    pool = [conns] if isinstance(conns, psycopg.AsyncConnection) else list(conns)
    blocks = asyncio.Queue[int]()
    for first in range(0, days, DAYS_PER_QUERY):
        blocks.put_nowait(first)
    if any(" " in d for d in device_ids):
        raise ValueError("device ids cannot contain spaces")
    ids = " ".join(device_ids)  # one text parameter, split by the server

    async def reader(conn: Conn) -> None:
        while not blocks.empty():
            first = blocks.get_nowait()
            count = min(DAYS_PER_QUERY, days - first)
            await _read_block(conn, device_type, ids, start, first, count, columns, out)

    await asyncio.gather(*(reader(conn) for conn in pool))
    return out


async def _read_block(
    conn: Conn,
    device_type: DeviceType,
    ids: str,
    start: date,
    first: int,
    count: int,
    columns: Sequence[str],
    out: dict[str, Floats],
) -> None:
    """Days ``first .. first + count`` (counted from ``start``) into ``out``."""
    day0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    query = sql.SQL(
        "SELECT ((r.bucket AT TIME ZONE 'UTC')::date - %(start)s::date)::int4,"
        " array_agg((i.n - 1)::int4), {values}"
        " FROM {rel} r JOIN unnest(string_to_array(%(ids)s, ' ')) WITH ORDINALITY"
        " AS i(device_id, n) USING (device_id)"
        " WHERE r.bucket >= %(low)s AND r.bucket < %(high)s GROUP BY r.bucket"
    ).format(
        values=sql.SQL(", ").join(
            sql.SQL("array_agg(coalesce({}::float8, 'NaN'))").format(sql.Identifier("r", c))
            for c in columns
        ),
        rel=sql.Identifier(relation(device_type, "daily")),
    )
    params = {
        "start": start,
        "ids": ids,
        "low": day0 + timedelta(days=first),
        "high": day0 + timedelta(days=first + count),
    }
    async with conn.transaction(), conn.cursor(binary=True) as cur:
        for setting in _SETTINGS:
            await cur.execute(setting)
        cur.adapters.register_loader(_INT4_ARRAY, _Int4Array)
        cur.adapters.register_loader(_FLOAT8_ARRAY, _Float8Array)
        await cur.execute(query, params)
        for row in await cur.fetchall():
            day, positions = cast(int, row[0]), cast(npt.NDArray[np.intp], row[1])
            for column, value in zip(columns, row[2:], strict=True):
                out[column][positions, day] = cast(Floats, value)


def _elements(data: Buffer, element: np.dtype[np.void]) -> npt.NDArray[np.void]:
    """The elements of a one-dimensional binary array without NULLs (each: length, value)."""
    header = bytes(data[:_ARRAY_HEADER])
    if int.from_bytes(header[:4], "big") != 1 or int.from_bytes(header[4:8], "big"):
        raise ValueError("expected a one-dimensional array without NULLs")
    size = int.from_bytes(header[12:16], "big")
    return np.frombuffer(data, dtype=element, count=size, offset=_ARRAY_HEADER)


class _Int4Array(Loader):
    """``int4[]`` as positions for numpy indexing (no Python int per element)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> npt.NDArray[np.intp]:
        return _elements(data, _INT4)["value"].astype(np.intp)


class _Float8Array(Loader):
    """``float8[]`` as a numpy array (no Python float per element)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> Floats:
        return _elements(data, _FLOAT8)["value"].astype(np.float64)
