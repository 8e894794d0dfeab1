"""The alert feed: every change to an alert (opened, updated, acknowledged, escalated, resolved)
as it commits, and the catch-up read for a listener that was away.

:func:`storage.alerts.save` writes the change as an ``alert_events`` row and, in the same
transaction, sends ``NOTIFY civicpulse_alerts`` with the event's id, its alert and zone. As with
the readings feed (:mod:`storage.feed`), PostgreSQL delivers the notification only when the
transaction commits, and a listener that was not listening has missed some: it reads
:func:`storage.alerts.events_after` from the last event id it saw. Event ids only grow, so
they are a resume point (the API's live alert streams use them as Server-Sent Events ids).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from storage.connection import Conn
from storage.feed import Listener

logger = logging.getLogger(__name__)

ALERT_CHANNEL = "civicpulse_alerts"


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """An alert event committed."""

    event_id: int
    alert_id: int
    zone_id: str | None


def notice_payload(event_id: int, alert_id: int, zone_id: str | None) -> str:
    # Zone ids are at most 64 characters (the API's pattern; the column is free text, so cut
    # it to stay far below the 8,000-byte limit of a notification).
    zone = None if zone_id is None else zone_id[:200]
    return orjson.dumps({"e": event_id, "a": alert_id, "z": zone}).decode()


def parse_notice(payload: str) -> AlertNotice | None:
    try:
        value = orjson.loads(payload)
        zone = value["z"]
        return AlertNotice(int(value["e"]), int(value["a"]), None if zone is None else str(zone))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        logger.warning("ignoring an unreadable alert notification: %.200s", payload)
        return None


async def notify(conn: Conn, event_id: int, alert_id: int, zone_id: str | None) -> None:
    """Announce an alert event; call it inside the transaction that records the event."""
    await conn.execute(
        "SELECT pg_notify(%s, %s)", (ALERT_CHANNEL, notice_payload(event_id, alert_id, zone_id))
    )


class AlertFeed(Listener[AlertNotice]):
    """The alert feed, like :class:`storage.feed.Feed`: :class:`AlertNotice` items as they
    commit, and a :class:`Gap` first and after every reconnect (then read
    :func:`storage.alerts.events_after`)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url, ALERT_CHANNEL, parse_notice, "the alert feed")
