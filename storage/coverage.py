"""What data covers, for catalogues: the days a type has data for, the zones holding its
devices, and the borough's extent (psycopg adapter). Reads only what the reader role may."""

from __future__ import annotations

from datetime import date, datetime

from psycopg import sql

from devices.model import DeviceType
from storage.connection import Conn
from storage.errors import storage_operation
from storage.readings import relation


@storage_operation("read a type's coverage")
async def data_days(conn: Conn, device_type: DeviceType) -> tuple[date, date] | None:
    """The first and last day with a daily rollup of the type (consent views for homes)."""
    cur = await conn.execute(
        sql.SQL("SELECT min(bucket), max(bucket) FROM {}").format(
            sql.Identifier(relation(device_type, "daily"))
        )
    )
    row = await cur.fetchone()
    if row is None or not isinstance(row[0], datetime) or not isinstance(row[1], datetime):
        return None
    return row[0].date(), row[1].date()


@storage_operation("read zones' coverage")
async def zones_with(conn: Conn, device_type: str, *, kinds: tuple[str, ...] = ()) -> list[str]:
    """Zones holding at least one device of ``device_type`` (of ``kinds``, if given)."""
    cur = await conn.execute(
        "SELECT DISTINCT dz.zone_id FROM device_zones dz JOIN devices d USING (device_id)"
        " JOIN zones z USING (zone_id) WHERE d.device_type = %s"
        " AND (cardinality(%s::text[]) = 0 OR z.kind = ANY(%s::text[])) ORDER BY 1",
        (device_type, list(kinds), list(kinds)),
    )
    return [str(r[0]) for r in await cur.fetchall()]


@storage_operation("read the zones' extent")
async def extent(conn: Conn) -> list[float] | None:
    """West, south, east, north of every zone (WGS84), or ``None`` without zones."""
    cur = await conn.execute(
        "SELECT min(min_lon), min(min_lat), max(max_lon), max(max_lat) FROM zones"
    )
    row = await cur.fetchone()
    if row is None or any(v is None for v in row):
        return None
    return [round(float(str(v)), 6) for v in row]
