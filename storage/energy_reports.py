"""Households' energy reports as their residents read them, and the same reports summed per ward
and month for officers (psycopg adapter).

``nudges`` and ``deliveries`` are closed to the reader role: these functions run on the owner's
connection, and what they return per ward is raw (counts, sums, the largest value); whether a
sum may be shown is ``analytics.zone_energy``'s decision. A household is placed in one ward: the
first (by id) of its meter's wards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg.rows import dict_row

from storage.connection import Conn
from storage.errors import storage_operation

_WARD_OF = (
    "(SELECT min(dz.zone_id) FROM device_zones dz JOIN zones z USING (zone_id)"
    " WHERE dz.device_id = {device} AND z.kind = 'ward')"
)


@dataclass(frozen=True, slots=True)
class WardSum:
    """One ward's households in one month: how many contributed a value, its total and the
    largest single household's value."""

    month: date
    ward: str
    contributors: int
    total: float
    largest: float


@dataclass(frozen=True, slots=True)
class WardReports:
    """One ward's reports of one programme and month."""

    month: date
    ward: str
    households: int
    compared: int
    delivered: int
    """Households sent the report by at least one channel."""
    usage: WardSum
    withheld: dict[str, int]
    """Withheld reason (as stored) → households."""


@storage_operation("read a household's reports")
async def household_reports(
    conn: Conn,
    household_id: str,
    *,
    limit: int = 36,
    after: tuple[date, str] | None = None,
    period_start: date | None = None,
) -> list[dict[str, Any]]:
    """A household's reports of every programme, newest period first; ``after`` (the last
    row's period start and programme) continues a page; ``period_start`` picks one period."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM nudges WHERE household_id = %(h)s"
            " AND (%(after)s::date IS NULL OR (period_start, programme_id) < (%(after)s::date, %(p)s::text))"
            " AND (%(start)s::date IS NULL OR period_start = %(start)s)"
            " ORDER BY period_start DESC, programme_id DESC LIMIT %(limit)s",
            {
                "h": household_id,
                "after": None if after is None else after[0],
                "p": None if after is None else after[1],
                "start": period_start,
                "limit": limit,
            },
        )
        return list(await cur.fetchall())


@storage_operation("read a household's consent")
async def household_consent(conn: Conn, household_id: str) -> list[tuple[str, str | None]]:
    """``(meter id, consent level)`` of the household's smart meters (``None``: none given)."""
    cur = await conn.execute(
        "SELECT device_id, consent FROM devices WHERE device_type = 'smart_meter'"
        " AND coalesce(attributes->>'household_id', device_id) = %s ORDER BY device_id",
        (household_id,),
    )
    return [(str(d), None if c is None else str(c)) for d, c in await cur.fetchall()]


@storage_operation("read reports by ward")
async def ward_reports(
    conn: Conn, programme_id: str, *, start: date, end: date
) -> list[WardReports]:
    """Per ward and month (periods starting in ``[start, end)``): households, compared,
    delivered, usage and withheld reasons. Households outside every ward are left out."""
    params = {"p": programme_id, "start": start, "end": end}
    placed = (
        "SELECT n.*, date_trunc('month', n.period_start)::date AS month,"
        f" {_WARD_OF.format(device='n.device_id')} AS ward,"
        " EXISTS (SELECT 1 FROM deliveries d WHERE d.kind = 'nudge' AND d.status = 'sent'"
        "   AND d.recipient = n.household_id AND d.message_key = 'nudge/' || n.programme_id"
        "   || '/' || n.period_start::text || '/' || n.household_id) AS delivered"
        " FROM nudges n WHERE n.programme_id = %(p)s"
        " AND n.period_start >= %(start)s AND n.period_start < %(end)s"
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"WITH placed AS ({placed}) SELECT month, ward, count(*) AS households,"
            " count(*) FILTER (WHERE status = 'ready') AS compared,"
            " count(*) FILTER (WHERE delivered) AS delivered,"
            " count(usage_kwh) AS measured, coalesce(sum(usage_kwh), 0) AS total,"
            " coalesce(max(usage_kwh), 0) AS largest"
            " FROM placed WHERE ward IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        )
        heads = await cur.fetchall()
        await cur.execute(
            f"WITH placed AS ({placed}) SELECT month, ward, withheld_reason, count(*) AS n"
            " FROM placed WHERE ward IS NOT NULL AND status = 'withheld' GROUP BY 1, 2, 3",
            params,
        )
        reasons: dict[tuple[date, str], dict[str, int]] = {}
        for row in await cur.fetchall():
            key = (row["month"], row["ward"])
            reason = row["withheld_reason"] or ""
            reasons.setdefault(key, {})[reason] = int(row["n"])
    return [
        WardReports(
            month=h["month"],
            ward=h["ward"],
            households=int(h["households"]),
            compared=int(h["compared"]),
            delivered=int(h["delivered"]),
            usage=WardSum(
                h["month"], h["ward"], int(h["measured"]), float(h["total"]), float(h["largest"])
            ),
            withheld=reasons.get((h["month"], h["ward"]), {}),
        )
        for h in heads
    ]


@storage_operation("read monthly use by ward")
async def ward_monthly_use(
    conn: Conn, *, start: date, end: date, fields: Sequence[str] = ("electricity_import_kwh",)
) -> dict[str, list[WardSum]]:
    """Each field's use per ward and month (months in ``[start, end)``), from the monthly
    consent view: a household's use in a month is its register at the month's end less the one
    at the previous month's end (a register that went backwards gives no value)."""
    out: dict[str, list[WardSum]] = {}
    for field in fields:
        if field not in ("electricity_import_kwh", "gas_m3"):
            raise ValueError(f"no monthly use of {field!r}")
        column = f"{field}_max"
        cur = await conn.execute(
            "WITH m AS (SELECT r.device_id, r.month::date AS month, r." + column + " AS reg,"
            "   lag(r." + column + ") OVER w AS before, lag(r.month::date) OVER w AS prev"
            "   FROM smart_meter_monthly_permitted r"
            "   WHERE r.month >= %(before)s AND r.month < %(end)s"
            "   WINDOW w AS (PARTITION BY r.device_id ORDER BY r.month)),"
            " used AS (SELECT coalesce(d.attributes->>'household_id', d.device_id) AS household,"
            "   m.month, " + _WARD_OF.format(device="m.device_id") + " AS ward,"
            "   m.reg - m.before AS kwh FROM m JOIN devices d USING (device_id)"
            "   WHERE m.month >= %(start)s AND m.prev = (m.month - interval '1 month')::date"
            "   AND m.reg >= m.before),"
            " homes AS (SELECT household, month, min(ward) AS ward, sum(kwh) AS kwh FROM used"
            "   GROUP BY 1, 2)"
            " SELECT month, ward, count(*), sum(kwh), max(kwh) FROM homes"
            " WHERE ward IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
            {"before": _month_before(start), "start": start, "end": end},
        )
        out[field] = [
            WardSum(m, str(w), int(str(n)), float(str(t)), float(str(x)))
            for m, w, n, t, x in await cur.fetchall()
            if isinstance(m, date)
        ]
    return out


def _month_before(day: date) -> date:
    first = day.replace(day=1)
    return first.replace(year=first.year - (first.month == 1), month=(first.month - 2) % 12 + 1)
