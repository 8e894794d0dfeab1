"""Delivery records and households' delivery preferences (psycopg adapter)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from psycopg.rows import dict_row

from storage.connection import Conn
from storage.errors import storage_operation


@dataclass(frozen=True, slots=True)
class HouseholdPreferences:
    household_id: str
    token: str
    channels: tuple[str, ...]
    quiet_start: time | None
    quiet_end: time | None
    max_per_week: int
    unsubscribed_at: datetime | None


@storage_operation("claim a delivery")
async def claim(
    conn: Conn, kind: str, message_key: str, recipient: str, channel: str, *, now: datetime
) -> tuple[int, int] | None:
    """Record an attempt before making it: ``(delivery id, attempt number)``, or ``None`` if
    this message already went (or is going, or failed for good, or waits for its retry time)
    to this recipient by this channel. A failed attempt whose retry time has come is claimed
    again."""
    cur = await conn.execute(
        "INSERT INTO deliveries (kind, message_key, recipient, channel, status)"
        " VALUES (%s, %s, %s, %s, 'sending')"
        " ON CONFLICT (kind, message_key, recipient, channel) DO UPDATE"
        " SET status = 'sending', attempts = deliveries.attempts + 1, retry_after = NULL,"
        " detail = '', attempted_at = now()"
        " WHERE deliveries.status = 'failed' AND deliveries.retry_after <= %s"
        " RETURNING delivery_id, attempts",
        (kind, message_key, recipient, channel, now),
    )
    row = await cur.fetchone()
    return None if row is None else (int(str(row[0])), int(str(row[1])))


@storage_operation("record a delivery")
async def finish(
    conn: Conn,
    delivery_id: int,
    status: str,
    detail: str = "",
    provider_ref: str | None = None,
    *,
    retry_after: datetime | None = None,
) -> None:
    """The attempt's outcome; a failure with ``retry_after`` may be claimed again from then."""
    await conn.execute(
        "UPDATE deliveries SET status = %s, detail = %s, provider_ref = %s, retry_after = %s,"
        " attempted_at = now() WHERE delivery_id = %s",
        (status, detail[:1000], provider_ref, retry_after, delivery_id),
    )


@storage_operation("record a skipped delivery")
async def skip(
    conn: Conn, kind: str, message_key: str, recipient: str, channel: str, reason: str
) -> None:
    await conn.execute(
        "INSERT INTO deliveries (kind, message_key, recipient, channel, status, detail)"
        " VALUES (%s, %s, %s, %s, 'skipped', %s) ON CONFLICT DO NOTHING",
        (kind, message_key, recipient, channel, reason[:1000]),
    )


@storage_operation("count deliveries")
async def messages_sent(conn: Conn, recipient: str, kind: str, since: datetime) -> int:
    """Distinct messages of ``kind`` sent to ``recipient`` since ``since`` (any channel)."""
    cur = await conn.execute(
        "SELECT count(DISTINCT message_key) FROM deliveries WHERE recipient = %s AND kind = %s"
        " AND status = 'sent' AND attempted_at >= %s",
        (recipient, kind, since),
    )
    row = await cur.fetchone()
    return 0 if row is None else int(str(row[0]))


@storage_operation("read delivery records")
async def records(conn: Conn, kind: str, message_key: str) -> list[tuple[str, str, str, str]]:
    """``(recipient, channel, status, detail)`` of one message."""
    cur = await conn.execute(
        "SELECT recipient, channel, status, detail FROM deliveries"
        " WHERE kind = %s AND message_key = %s ORDER BY recipient, channel",
        (kind, message_key),
    )
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in await cur.fetchall()]


@storage_operation("mark interrupted deliveries")
async def interrupted(conn: Conn, older_than: datetime) -> int:
    """Attempts left 'sending' by a crash: reported as failed, never retried (the message may
    have gone; a second copy would be worse than a gap the audit shows)."""
    cur = await conn.execute(
        "UPDATE deliveries SET status = 'failed', detail = 'interrupted mid-send; not retried'"
        " WHERE status = 'sending' AND attempted_at < %s",
        (older_than,),
    )
    return max(cur.rowcount, 0)


_PREFERENCE_COLUMNS = (
    "household_id, token, channels, quiet_start, quiet_end, max_per_week, unsubscribed_at"
)


def _preferences(row: Mapping[str, Any]) -> HouseholdPreferences:
    return HouseholdPreferences(
        row["household_id"],
        row["token"],
        tuple(row["channels"]),
        row["quiet_start"],
        row["quiet_end"],
        int(row["max_per_week"]),
        row["unsubscribed_at"],
    )


@storage_operation("read delivery preferences")
async def household_preferences(
    conn: Conn, household_ids: Sequence[str]
) -> dict[str, HouseholdPreferences]:
    """Each household's preferences, made with the defaults (email, 2 a week) when it has none,
    so that every household has an unsubscribe token from its first message on."""
    ids = list(household_ids)
    await conn.execute(
        "INSERT INTO delivery_preferences (household_id, token)"
        " SELECT h, t FROM unnest(%s::text[], %s::text[]) AS x(h, t) ON CONFLICT DO NOTHING",
        (ids, [new_token() for _ in ids]),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_PREFERENCE_COLUMNS} FROM delivery_preferences WHERE household_id = ANY(%s)",
            (ids,),
        )
        return {row["household_id"]: _preferences(row) for row in await cur.fetchall()}


@storage_operation("read delivery preferences")
async def preferences_by_token(conn: Conn, token: str) -> HouseholdPreferences | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_PREFERENCE_COLUMNS} FROM delivery_preferences WHERE token = %s", (token,)
        )
        row = await cur.fetchone()
    return None if row is None else _preferences(row)


@storage_operation("change delivery preferences")
async def set_preferences(
    conn: Conn,
    household_id: str,
    *,
    channels: Sequence[str] | None = None,
    quiet: tuple[time, time] | None = None,
    max_per_week: int | None = None,
    unsubscribed: bool | None = None,
) -> None:
    await household_preferences(conn, [household_id])
    await conn.execute(
        "UPDATE delivery_preferences SET"
        " channels = coalesce(%s::text[], channels),"
        " quiet_start = CASE WHEN %s THEN %s::time ELSE quiet_start END,"
        " quiet_end = CASE WHEN %s THEN %s::time ELSE quiet_end END,"
        " max_per_week = coalesce(%s::int, max_per_week),"
        " unsubscribed_at = CASE WHEN %s::boolean IS NULL THEN unsubscribed_at"
        "   WHEN %s::boolean THEN coalesce(unsubscribed_at, now()) ELSE NULL END,"
        " updated_at = now() WHERE household_id = %s",
        (
            None if channels is None else list(channels),
            quiet is not None,
            None if quiet is None else quiet[0],
            quiet is not None,
            None if quiet is None else quiet[1],
            max_per_week,
            unsubscribed,
            unsubscribed,
            household_id,
        ),
    )


def new_token() -> str:
    """An unguessable token for links in messages (unsubscribe, the resident's page)."""
    return secrets.token_urlsafe(24)
