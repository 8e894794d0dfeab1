"""What the tokens in messages' links open: a household's report page and settings, an alert
subscription (psycopg adapter).

Look-ups go through the SHA-256 digest of the token (migration 8 indexes it): the database
compares digests, never the characters a visitor sent, so the time a look-up takes does not
reveal how close a guess came. Both tables are closed to the reader role; callers use the
owner's connection.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import dict_row

from storage.alerts import Subscription
from storage.connection import Conn
from storage.delivery import HouseholdPreferences
from storage.errors import storage_operation


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@storage_operation("read delivery preferences")
async def household_by_token(conn: Conn, token: str) -> HouseholdPreferences | None:
    """The household whose report links carry ``token``, with its delivery preferences."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT household_id, token, channels, quiet_start, quiet_end, max_per_week,"
            " unsubscribed_at FROM delivery_preferences WHERE sha256(token::bytea) = %s",
            (digest(token),),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return HouseholdPreferences(
        row["household_id"],
        row["token"],
        tuple(row["channels"]),
        row["quiet_start"],
        row["quiet_end"],
        int(row["max_per_week"]),
        row["unsubscribed_at"],
    )


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    subscription: Subscription
    unsubscribed_at: datetime | None
    zone_name: str | None


@storage_operation("read a subscription")
async def subscription_by_token(conn: Conn, token: str) -> SubscriptionState | None:
    """The alert subscription of ``token``, ended or not (a link in an old email still opens
    the page that says it has ended)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT s.*, z.name AS zone_name FROM alert_subscriptions s"
            " LEFT JOIN zones z USING (zone_id) WHERE sha256(s.token::bytea) = %s",
            (digest(token),),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    subscription = Subscription(
        subscription_id=int(row["subscription_id"]),
        token=row["token"],
        zone_id=row["zone_id"],
        longitude=row["longitude"],
        latitude=row["latitude"],
        radius_m=row["radius_m"],
        kinds=tuple(row["kinds"]),
        min_level=row["min_level"],
        channels=dict(row["channels"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        max_per_day=int(row["max_per_day"]),
    )
    return SubscriptionState(subscription, row["unsubscribed_at"], row["zone_name"])


@storage_operation("change delivery preferences")
async def clear_quiet_hours(conn: Conn, household_id: str) -> None:
    """No quiet hours any more (``storage.delivery.set_preferences`` only sets them)."""
    await conn.execute(
        "UPDATE delivery_preferences SET quiet_start = NULL, quiet_end = NULL,"
        " updated_at = now() WHERE household_id = %s",
        (household_id,),
    )
