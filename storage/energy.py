"""The energy programme's data: households, daily weather, programmes, trial assignments and
nudges (psycopg adapter).

Meter readings are read through the consent views (``storage.readings``); this module adds what
the neighbour comparison needs about households (pseudonymous id, property type, floor-area
band, heating fuel, location, consent) and stores what it decides, one row per household and
period, replaced when the period is run again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from storage.connection import Conn
from storage.errors import storage_operation

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Household:
    device_id: str
    household_id: str
    property_type: str | None
    floor_area_band: str | None
    heating_fuel: str | None
    latitude: float | None
    longitude: float | None
    consent: str
    zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Programme:
    programme_id: str
    name: str
    grain: str = "month"
    min_peers: int = 10
    target_peers: int = 100
    trial: bool = False
    starts_on: date | None = None


@dataclass(frozen=True, slots=True)
class NudgeRow:
    household_id: str
    device_id: str
    status: str
    rating: str | None = None
    usage_kwh: float | None = None
    average_kwh: float | None = None
    efficient_kwh: float | None = None
    peers: int | None = None
    withheld_reason: str | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)


@storage_operation("read households")
async def households(conn: Conn) -> list[Household]:
    """Every household with a consenting smart meter (no consent: not in the programme), its
    attributes and zones; a household is compared on one meter (its first by device id)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.device_id, coalesce(d.attributes->>'household_id', d.device_id) AS household_id,"
            " d.attributes->>'property_type' AS property_type,"
            " d.attributes->>'floor_area_band' AS floor_area_band,"
            " d.attributes->>'heating_fuel' AS heating_fuel, d.latitude, d.longitude, d.consent,"
            " coalesce((SELECT array_agg(zone_id ORDER BY zone_id) FROM device_zones z"
            "   WHERE z.device_id = d.device_id), '{}') AS zones"
            " FROM devices d WHERE d.device_type = 'smart_meter' AND d.consent IS NOT NULL"
            " ORDER BY d.device_id"
        )
        rows = await cur.fetchall()
    found: dict[str, Household] = {}
    shared: list[str] = []
    for r in rows:
        if r["household_id"] in found:  # a home is compared once, on its first meter
            shared.append(f"{r['device_id']} (with {found[r['household_id']].device_id})")
            continue
        found[r["household_id"]] = Household(**{**r, "zones": tuple(r["zones"])})
    if shared:
        logger.warning(
            "left out of the comparison, sharing a household_id with another meter: %d"
            " (e.g. %s); give each home's meter its own household_id",
            len(shared),
            ", ".join(shared[:3]),
        )
    return list(found.values())


@storage_operation("read daily weather")
async def daily_temperatures(conn: Conn, start: date, end: date) -> list[tuple[date, float, float]]:
    """``(day, max °C, min °C)`` over the platform's weather stations (their mean), for days
    in ``[start, end)`` with readings. Days are UTC days of the daily rollup."""
    cur = await conn.execute(
        "SELECT bucket::date, avg(temperature_c_max), avg(temperature_c_min) FROM weather_daily"
        " WHERE bucket >= %s AND bucket < %s AND temperature_c_n > 0 GROUP BY 1 ORDER BY 1",
        (start, end),
    )
    return [(d, float(hi), float(lo)) for d, hi, lo in await cur.fetchall()]  # type: ignore[misc, arg-type]


@storage_operation("save an energy programme")
async def save_programme(conn: Conn, programme: Programme) -> None:
    await conn.execute(
        "INSERT INTO energy_programmes (programme_id, name, grain, min_peers, target_peers, trial,"
        " starts_on) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (programme_id) DO UPDATE SET"
        " name = excluded.name, grain = excluded.grain, min_peers = excluded.min_peers,"
        " target_peers = excluded.target_peers, trial = excluded.trial,"
        " starts_on = excluded.starts_on",
        (
            programme.programme_id,
            programme.name,
            programme.grain,
            programme.min_peers,
            programme.target_peers,
            programme.trial,
            programme.starts_on,
        ),
    )


@storage_operation("read an energy programme")
async def programme(conn: Conn, programme_id: str) -> Programme | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT programme_id, name, grain, min_peers, target_peers, trial, starts_on"
            " FROM energy_programmes WHERE programme_id = %s",
            (programme_id,),
        )
        row = await cur.fetchone()
    return None if row is None else Programme(**row)


@storage_operation("save trial assignments")
async def save_assignments(
    conn: Conn, programme_id: str, assignments: Sequence[tuple[str, str, str]]
) -> int:
    """``(household_id, arm, stratum)``; a household keeps its first assignment (a trial's
    arms must not change under it). Returns how many were new."""
    cur = await conn.execute(
        "INSERT INTO energy_assignments (programme_id, household_id, arm, stratum)"
        " SELECT %s, h, a, s FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(h, a, s)"
        " ON CONFLICT DO NOTHING",
        (
            programme_id,
            [a[0] for a in assignments],
            [a[1] for a in assignments],
            [a[2] for a in assignments],
        ),
    )
    return max(cur.rowcount, 0)


@storage_operation("read trial assignments")
async def assignments(conn: Conn, programme_id: str) -> dict[str, tuple[str, str]]:
    """household_id → (arm, stratum)."""
    cur = await conn.execute(
        "SELECT household_id, arm, stratum FROM energy_assignments WHERE programme_id = %s",
        (programme_id,),
    )
    return {str(h): (str(a), str(s)) for h, a, s in await cur.fetchall()}


@storage_operation("save nudges")
async def replace_nudges(
    conn: Conn, programme_id: str, period_start: date, period_end: date, rows: Sequence[NudgeRow]
) -> int:
    """Store a period's nudges in place of any earlier run of the same period (idempotent)."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            "DELETE FROM nudges WHERE programme_id = %s AND period_start = %s",
            (programme_id, period_start),
        )
        async with cur.copy(
            "COPY nudges (programme_id, household_id, device_id, period_start, period_end, status,"
            " rating, usage_kwh, average_kwh, efficient_kwh, peers, withheld_reason, figures)"
            " FROM STDIN"
        ) as copy:
            for r in rows:
                await copy.write_row(
                    (
                        programme_id,
                        r.household_id,
                        r.device_id,
                        period_start,
                        period_end,
                        r.status,
                        r.rating,
                        r.usage_kwh,
                        r.average_kwh,
                        r.efficient_kwh,
                        r.peers,
                        r.withheld_reason,
                        Jsonb(dict(r.figures)),
                    )
                )
    return len(rows)


@storage_operation("read nudges")
async def nudges(
    conn: Conn,
    programme_id: str,
    *,
    period_start: date | None = None,
    household_id: str | None = None,
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM nudges WHERE programme_id = %(p)s"
            " AND (%(start)s::date IS NULL OR period_start = %(start)s)"
            " AND (%(h)s::text IS NULL OR household_id = %(h)s)"
            " ORDER BY period_start DESC, household_id",
            {"p": programme_id, "start": period_start, "h": household_id},
        )
        return list(await cur.fetchall())


@storage_operation("read the latest run")
async def last_computed(conn: Conn, programme_id: str) -> datetime | None:
    cur = await conn.execute(
        "SELECT max(computed_at) FROM nudges WHERE programme_id = %s", (programme_id,)
    )
    row = await cur.fetchone()
    return None if row is None else row[0]  # type: ignore[return-value]
