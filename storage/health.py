"""Gather health observations from the database (psycopg adapter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import sql
from psycopg.rows import dict_row

from devices.health import Health, Observations, assess
from devices.model import DeviceType
from storage.connection import Conn
from storage.errors import storage_operation


@storage_operation("assess device health")
async def fleet_health(
    conn: Conn,
    types: Mapping[str, DeviceType],
    *,
    now: datetime,
    window: timedelta = timedelta(hours=24),
    zone: str | None = None,
) -> list[Health]:
    """Health of every registered device, or of those in ``zone``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.device_id, d.device_type, d.firmware_version, l.last_received_at, l.last_ts,"
            " l.battery_pct, l.rssi_dbm, coalesce(l.readings, 0) AS readings,"
            " coalesce(l.quarantined, 0) AS quarantined, l.last_quarantined_at,"
            " s.online, s.ts AS status_at"
            " FROM devices d LEFT JOIN device_last_seen l USING (device_id)"
            " LEFT JOIN LATERAL (SELECT online, ts FROM device_status st"
            "   WHERE st.device_id = d.device_id ORDER BY ts DESC LIMIT 1) s ON true"
            " WHERE %(zone)s::text IS NULL OR EXISTS (SELECT 1 FROM device_zones z"
            "   WHERE z.device_id = d.device_id AND z.zone_id = %(zone)s)"
            " ORDER BY d.device_id",
            {"zone": zone},
        )
        devices = await cur.fetchall()
        windows: dict[str, dict[str, int | None]] = {}
        by_type: dict[str, list[str]] = {}
        for row in devices:
            by_type.setdefault(row["device_type"], []).append(row["device_id"])
        for type_name, ids in by_type.items():
            device_type = types.get(type_name)
            if device_type is None:
                continue
            await cur.execute(
                sql.SQL(
                    "SELECT device_id, count(*) AS n, count(DISTINCT seq) AS distinct_seq,"
                    " min(seq) AS seq_min, max(seq) AS seq_max FROM {}"
                    " WHERE device_id = ANY(%s) AND ts >= %s AND ts <= %s GROUP BY device_id"
                ).format(sql.Identifier(device_type.table)),
                (ids, now - window, now),
            )
            for w in await cur.fetchall():
                windows[w["device_id"]] = w
    out = []
    for row in devices:
        device_type = types.get(row["device_type"])
        if device_type is None:
            continue
        w = windows.get(row["device_id"], {})
        out.append(
            assess(
                Observations(
                    device_id=row["device_id"],
                    device_type=row["device_type"],
                    expected_interval=timedelta(seconds=device_type.expected_interval_s),
                    firmware_version=row["firmware_version"],
                    last_received_at=row["last_received_at"],
                    last_ts=row["last_ts"],
                    battery_pct=row["battery_pct"],
                    rssi_dbm=row["rssi_dbm"],
                    readings_total=row["readings"],
                    quarantined_total=row["quarantined"],
                    last_quarantined_at=row["last_quarantined_at"],
                    online=row["online"],
                    status_at=row["status_at"],
                    window_readings=int(w.get("n") or 0),
                    window_distinct_seq=int(w.get("distinct_seq") or 0),
                    window_seq_min=w.get("seq_min"),
                    window_seq_max=w.get("seq_max"),
                ),
                now=now,
                window=window,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Liveness:
    """What the alert service needs to judge a device's liveness, and where it is."""

    device_id: str
    device_type: str
    last_received_at: datetime | None
    online: bool | None
    status_at: datetime | None
    zones: tuple[str, ...]
    lon: float | None
    lat: float | None
    last_ts: datetime | None = None
    """The newest reading's device time (``last_received_at`` much later: a backlog drains)."""
    battery_pct: float | None = None
    """From the newest reading that carried one."""


@storage_operation("read device liveness")
async def liveness(conn: Conn, device_ids: Sequence[str] | None) -> list[Liveness]:
    """Every registered device's (or those named) last arrival, latest status, zones, place."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.device_id, d.device_type, l.last_received_at, s.online, s.ts AS status_at,"
            " l.last_ts, l.battery_pct,"
            " coalesce((SELECT array_agg(zone_id ORDER BY zone_id) FROM device_zones z"
            "   WHERE z.device_id = d.device_id), '{}') AS zones, d.longitude, d.latitude"
            " FROM devices d LEFT JOIN device_last_seen l USING (device_id)"
            " LEFT JOIN LATERAL (SELECT online, ts FROM device_status st"
            "   WHERE st.device_id = d.device_id ORDER BY ts DESC LIMIT 1) s ON true"
            " WHERE %(ids)s::text[] IS NULL OR d.device_id = ANY(%(ids)s)",
            {"ids": None if device_ids is None else list(device_ids)},
        )
        rows = await cur.fetchall()
    return [
        Liveness(
            r["device_id"],
            r["device_type"],
            r["last_received_at"],
            r["online"],
            r["status_at"],
            tuple(r["zones"]),
            r["longitude"],
            r["latitude"],
            r["last_ts"],
            r["battery_pct"],
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One stored reading, as the device-health rules see it."""

    device_id: str
    ts: datetime
    received_at: datetime
    battery_pct: float | None


@storage_operation("read recent readings")
async def arrivals(
    conn: Conn,
    device_type: DeviceType,
    *,
    start: datetime,
    end: datetime | None = None,
    device_ids: Sequence[str] | None = None,
) -> list[Arrival]:
    """Readings of ``device_type`` with ``start <= ts < end`` (of ``device_ids``, or all), by
    device and time: a range of the primary key ``(device_id, ts)`` per device named."""
    battery = (
        sql.Identifier("battery_pct")
        if "battery_pct" in device_type.columns
        else sql.SQL("NULL::double precision")
    )
    where = [sql.SQL("ts >= %(start)s")]
    if end is not None:
        where.append(sql.SQL("ts < %(end)s"))
    if device_ids is not None:
        where.append(sql.SQL("device_id = ANY(%(ids)s)"))
    query = sql.SQL(
        "SELECT device_id, ts, received_at, {} FROM {} WHERE {} ORDER BY device_id, ts"
    ).format(battery, sql.Identifier(device_type.table), sql.SQL(" AND ").join(where))
    cur = await conn.execute(
        query, {"start": start, "end": end, "ids": None if device_ids is None else list(device_ids)}
    )
    return [Arrival(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]


_NOT_A_DEVICE = ["unknown_device", "bad_topic"]
"""Quarantine reasons whose device id is not a registered device's (as ``storage.writer``)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A quarantined message (or batch item) of a device."""

    id: int
    device_id: str
    received_at: datetime


@storage_operation("read recent quarantine")
async def refusals_since(conn: Conn, since: datetime, after_id: int | None = None) -> list[Refusal]:
    """Quarantine rows of devices that arrived at or after ``since``, or were inserted after row
    ``after_id`` (a batch that committed long after its messages arrived): a range of
    ``quarantine_received_idx`` or-ed with one of the primary key, each as long as what came
    since. A redelivery of the same message bumps its row's ``deliveries``, not a new row: one
    message counts once."""
    cur = await conn.execute(
        "SELECT id, device_id, received_at FROM quarantine"
        " WHERE (received_at >= %s OR id > %s) AND device_id IS NOT NULL AND reason <> ALL(%s)"
        " ORDER BY id",
        (since, after_id if after_id is not None else 2**63 - 1, _NOT_A_DEVICE),
    )
    return [Refusal(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]


@storage_operation("read the quarantine's last id")
async def last_refusal_id(conn: Conn) -> int:
    """The newest quarantine row's id (0 if none): where to read on from."""
    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM quarantine")
    row = await cur.fetchone()
    return int(str(row[0])) if row else 0
