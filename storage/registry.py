"""The registry in the database (psycopg adapter): devices, zones and their memberships."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from devices.registry import Device, Zone, memberships
from storage.connection import Conn
from storage.errors import storage_operation

_DEVICE_COLUMNS = (
    "device_id, device_type, name, latitude, longitude, vendor, model, firmware_version,"
    " installed_on, attributes, consent"
)


@storage_operation("register devices")
async def upsert(conn: Conn, devices: Iterable[Device]) -> int:
    """Insert or update devices and their zone memberships, in one transaction."""
    devices = list(devices)
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (device_id) DO UPDATE SET device_type = excluded.device_type,"
            " name = excluded.name, latitude = excluded.latitude,"
            " longitude = excluded.longitude, vendor = excluded.vendor,"
            " model = excluded.model, firmware_version = excluded.firmware_version,"
            " installed_on = excluded.installed_on, attributes = excluded.attributes,"
            " consent = excluded.consent, updated_at = now()",
            [
                (
                    d.device_id,
                    d.device_type,
                    d.name,
                    d.latitude,
                    d.longitude,
                    d.vendor,
                    d.model,
                    d.firmware_version,
                    d.installed_on,
                    Jsonb(dict(d.attributes)),
                    d.consent,
                )
                for d in devices
            ],
        )
        await _ensure_explicit_zones(cur, devices)
        zones = await list_zones(conn)
        await _replace_memberships(cur, devices, zones)
    return len(devices)


@storage_operation("withdraw consent")
async def withdraw_consent(conn: Conn, device_ids: Sequence[str]) -> int:
    """Households withdraw their consent: their meters' readings leave the consent views and
    the households leave every energy programme at its next run, as peers too. Returns how
    many meters had a consent to withdraw."""
    cur = await conn.execute(
        "UPDATE devices SET consent = NULL, updated_at = now()"
        " WHERE device_type = 'smart_meter' AND consent IS NOT NULL AND device_id = ANY(%s)",
        (list(device_ids),),
    )
    return max(cur.rowcount, 0)


@storage_operation("import zones")
async def upsert_zones(conn: Conn, zones: Iterable[Zone]) -> int:
    """Insert or update zones, then reassign every located device by geometry."""
    zones = list(zones)
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO zones (zone_id, kind, name, geometry, min_lon, min_lat, max_lon,"
            " max_lat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (zone_id) DO UPDATE SET kind = excluded.kind, name = excluded.name,"
            " geometry = excluded.geometry, min_lon = excluded.min_lon,"
            " min_lat = excluded.min_lat, max_lon = excluded.max_lon,"
            " max_lat = excluded.max_lat",
            [
                (
                    z.zone_id,
                    z.kind,
                    z.name,
                    None if z.geometry is None else Jsonb(z.geometry),
                    *(z.bbox or (None, None, None, None)),
                )
                for z in zones
            ],
        )
        await _replace_memberships(cur, await list_devices(conn), await list_zones(conn))
    return len(zones)


async def _ensure_explicit_zones(
    cur: psycopg.AsyncCursor[tuple[object, ...]], devices: Sequence[Device]
) -> None:
    named = sorted({z for d in devices for z in d.zones})
    if named:
        await cur.execute(
            "INSERT INTO zones (zone_id, kind, name) SELECT z, 'other', z FROM unnest(%s::text[]) z"
            " ON CONFLICT DO NOTHING",
            (named,),
        )


async def _replace_memberships(
    cur: psycopg.AsyncCursor[tuple[object, ...]], devices: Sequence[Device], zones: Sequence[Zone]
) -> None:
    rows = memberships(devices, zones)
    ids = [d.device_id for d in devices]
    await cur.execute("DELETE FROM device_zones WHERE device_id = ANY(%s)", (ids,))
    if rows:
        await cur.executemany(
            "INSERT INTO device_zones (device_id, zone_id, source) VALUES (%s, %s, %s)", rows
        )


@storage_operation("list devices")
async def list_devices(
    conn: Conn, *, zone: str | None = None, device_type: str | None = None
) -> list[Device]:
    """Registered devices (with their explicit zones), by id; optionally one zone's or type's."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_DEVICE_COLUMNS}, coalesce((SELECT array_agg(zone_id ORDER BY zone_id)"
            "   FROM device_zones z WHERE z.device_id = d.device_id AND z.source = 'explicit'),"
            " '{}') AS zones FROM devices d"
            " WHERE (%(zone)s::text IS NULL OR EXISTS (SELECT 1 FROM device_zones z"
            "   WHERE z.device_id = d.device_id AND z.zone_id = %(zone)s))"
            " AND (%(type)s::text IS NULL OR d.device_type = %(type)s)"
            " ORDER BY device_id",
            {"zone": zone, "type": device_type},
        )
        rows = await cur.fetchall()
    return [
        Device(**{**row, "attributes": row["attributes"] or {}, "zones": tuple(row["zones"])})
        for row in rows
    ]


@storage_operation("read zone memberships")
async def zones_of(conn: Conn) -> dict[str, list[str]]:
    """Every device's zones (explicit and by geometry)."""
    cur = await conn.execute(
        "SELECT device_id, array_agg(zone_id ORDER BY zone_id) FROM device_zones GROUP BY 1"
    )
    return {str(r[0]): list(r[1]) for r in await cur.fetchall()}  # type: ignore[call-overload]


@storage_operation("list zones")
async def list_zones(conn: Conn) -> list[Zone]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT zone_id, kind, name, geometry FROM zones ORDER BY zone_id")
        return [Zone(**row) for row in await cur.fetchall()]


@storage_operation("look devices up")
async def device_types(
    conn: Conn, device_ids: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """``(device_id, device_type)`` of every registered device, or of those in ``device_ids``."""
    if device_ids is None:
        cur = await conn.execute("SELECT device_id, device_type FROM devices")
    else:
        cur = await conn.execute(
            "SELECT device_id, device_type FROM devices WHERE device_id = ANY(%s)",
            (list(device_ids),),
        )
    rows = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
    if not conn.autocommit:
        await conn.rollback()  # no transaction left open on a writer's connection
    return rows


@storage_operation("count zone members")
async def zone_counts(conn: Conn) -> list[tuple[Zone, int]]:
    """Every zone with the number of devices in it, by kind then id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT z.zone_id, z.kind, z.name, z.geometry, count(dz.device_id) AS devices"
            " FROM zones z LEFT JOIN device_zones dz USING (zone_id)"
            " GROUP BY 1, 2, 3, 4 ORDER BY 2, 1"
        )
        rows = await cur.fetchall()
    return [
        (Zone(r["zone_id"], r["kind"], r["name"], r["geometry"]), int(r["devices"])) for r in rows
    ]
