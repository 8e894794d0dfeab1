"""The change feed: what ingest has committed, as it commits it.

Ingest's write transaction sends ``NOTIFY civicpulse_changes`` with, per device type, the devices
whose readings it inserted and the span of their timestamps (redeliveries that stored nothing
are not news). PostgreSQL delivers a notification only when its transaction commits, so a
listener never reacts to data that was not stored. The alert service and the API's live updates
listen here instead of polling the readings tables.

Notifications are not stored: a listener that was away (or whose connection dropped) has missed
some, and must catch up from the tables. :class:`Feed` says when that is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import orjson
from psycopg import sql

from civicpulse.errors import StorageError
from storage.connection import Conn, connect
from storage.errors import translated

logger = logging.getLogger(__name__)

T = TypeVar("T")

FEED_CHANNEL = "civicpulse_changes"
STATUS_CHANGES = "status"
"""The pseudo device type of online/offline changes (device_status)."""
_MAX_PAYLOAD = 7_000  # PostgreSQL's limit is 8,000 bytes


@dataclass(frozen=True, slots=True)
class Change:
    """Readings (or status changes) committed for ``device_ids`` of one type."""

    device_type: str
    device_ids: tuple[str, ...]
    first_ts: datetime
    last_ts: datetime


@dataclass(frozen=True, slots=True)
class Gap:
    """The feed was interrupted: changes may have been missed; catch up from the tables."""

    reason: str


def feed_payloads(
    type_name: str, device_ids: Sequence[str], first: datetime, last: datetime
) -> Iterator[str]:
    """JSON payloads for one type's changes, split to fit a notification."""
    span = (
        f'"t":{orjson.dumps(type_name).decode()},"a":"{first.isoformat()}","b":"{last.isoformat()}"'
    )
    chunk: list[str] = []
    size = len(span) + 16
    for device_id in device_ids:
        encoded = orjson.dumps(device_id).decode()
        if chunk and size + len(encoded) + 1 > _MAX_PAYLOAD:
            yield "{" + span + ',"d":[' + ",".join(chunk) + "]}"
            chunk, size = [], len(span) + 16
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield "{" + span + ',"d":[' + ",".join(chunk) + "]}"


def parse_payload(payload: str) -> Change | None:
    try:
        value = orjson.loads(payload)
        return Change(
            str(value["t"]),
            tuple(str(d) for d in value["d"]),
            datetime.fromisoformat(value["a"]),
            datetime.fromisoformat(value["b"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        logger.warning("ignoring an unreadable change notification: %.200s", payload)
        return None


class Listener(Generic[T]):
    """Listens to one NOTIFY channel on a connection of its own.

    :meth:`get` returns the parsed notifications as they commit, and a :class:`Gap` first and
    after every reconnect (the listener cannot know what it missed while not listening). A
    pump task moves notifications into a queue, so that a consumer may wait with a timeout, or
    on other things too, without losing any. Unreadable payloads (``parse`` returns None) are
    skipped.
    """

    def __init__(
        self, database_url: str, channel: str, parse: Callable[[str], T | None], what: str
    ) -> None:
        self._url = database_url
        self._channel = channel
        self._parse = parse
        self._what = what
        self._conn: Conn | None = None
        self._queue: asyncio.Queue[T | Gap | StorageError] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen (again, after a failure); a :class:`Gap` comes first."""
        await self.close()
        self._conn = await connect(self._url, autocommit=True)
        async with translated(f"listen to {self._what}"):
            await self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        self._queue.put_nowait(Gap("started listening"))
        self._pump = asyncio.create_task(self._run(self._conn))

    async def _run(self, conn: Conn) -> None:
        try:
            async with translated(f"read {self._what}"):
                async for notify in conn.notifies():
                    item = self._parse(notify.payload)
                    if item is not None:
                        self._queue.put_nowait(item)
        except StorageError as error:
            self._queue.put_nowait(error)

    async def get(self) -> T | Gap:
        """The next item; raises :class:`StorageError` when the connection failed (call
        :meth:`start` to listen again)."""
        item = await self._queue.get()
        if isinstance(item, StorageError):
            raise item
        return item

    def pending(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class Feed(Listener[Change]):
    """The change feed: a :class:`Change` for every committed batch of readings or statuses."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url, FEED_CHANNEL, parse_payload, "the change feed")
