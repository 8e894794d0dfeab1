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

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import orjson

from civicpulse.errors import StorageError
from storage.connection import Conn, connect
from storage.errors import translated
from storage.feed import Gap

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


class AlertFeed:
    """Listens to the alert feed on a connection of its own, like :class:`storage.feed.Feed`:
    :meth:`get` returns :class:`AlertNotice` items as they commit, and a :class:`Gap` first and
    after every reconnect (then read :func:`storage.alerts.events_after`)."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: Conn | None = None
        self._queue: asyncio.Queue[AlertNotice | Gap | StorageError] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen (again, after a failure); a :class:`Gap` comes first."""
        await self.close()
        self._conn = await connect(self._url, autocommit=True)
        async with translated("listen to the alert feed"):
            await self._conn.execute(f"LISTEN {ALERT_CHANNEL}")
        self._queue.put_nowait(Gap("started listening"))
        self._pump = asyncio.create_task(self._run(self._conn))

    async def _run(self, conn: Conn) -> None:
        try:
            async with translated("read the alert feed"):
                async for notify in conn.notifies():
                    notice = parse_notice(notify.payload)
                    if notice is not None:
                        self._queue.put_nowait(notice)
        except StorageError as error:
            self._queue.put_nowait(error)

    async def get(self) -> AlertNotice | Gap:
        """The next notice; raises :class:`StorageError` when the connection failed (call
        :meth:`start` to listen again)."""
        item = await self._queue.get()
        if isinstance(item, StorageError):
            raise item
        return item

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
