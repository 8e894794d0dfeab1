"""One client's stream: what it missed or the state to start from, then events as the hub
queues them, heartbeats while nothing happens, and a ``reset`` after a gap.

The response ends when the client goes away: Starlette listens for the disconnect and cancels
the body, and ``finally`` takes the client off the hub, so nothing is left behind. It also ends
when the hub closes (the server is stopping); clients reconnect with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from api.live import sse
from api.live.hub import WAKE, AlertItem, Hub, Reader, Subscriber
from storage import alerts as alert_store
from storage.alerts import AlertEvent, AlertRecord
from storage.connection import Conn

RESUME_LIMIT = 200
"""Missed alert events replayed at most; a client further behind gets a ``reset``."""
SNAPSHOT_LIMIT = 100
"""Unresolved alerts of each state in a ``reset``."""

Render = Callable[[AlertRecord], dict[str, Any]]
"""An alert as the client's scope may see it."""


async def _next(hub: Hub, sub: Subscriber) -> object:
    """The next queued item, or :data:`sse.HEARTBEAT` when the heartbeat interval passes."""
    try:
        return await asyncio.wait_for(sub.queue.get(), hub.config.heartbeat_s)
    except TimeoutError:
        return sse.HEARTBEAT


def _drain(sub: Subscriber) -> bool:
    """Empty the queue after a loss; whether the hub is closing (``None`` was queued)."""
    closing = False
    while not sub.queue.empty():
        closing |= sub.queue.get_nowait() is None
    sub.lost = False
    return closing


async def parking_stream(hub: Hub, zone_id: str, last_id: str | None) -> AsyncIterator[bytes]:
    """A zone's availability: the events missed since ``last_id`` when this process still has
    them all, else a ``reset`` with the counts now; then each change."""
    # Subscribing and reading the missed events happen with no await in between, so no event
    # falls between them; and only once the body runs, so a client gone before is never added.
    sub = hub.subscribe("parking", zone_id)
    first = hub.replay(zone_id, last_id)
    try:
        yield sse.retry(hub.config.retry_ms)
        for event in first if first is not None else [hub.availability_event(zone_id)]:
            yield event.encode()
        while True:
            item = await _next(hub, sub)
            if item is None:
                return
            if sub.lost:
                if _drain(sub):
                    return
                yield hub.availability_event(sub.zone_id).encode()
            elif item is sse.HEARTBEAT:
                yield sse.HEARTBEAT
            elif isinstance(item, sse.Event):
                yield item.encode()
    finally:
        hub.unsubscribe(sub)


async def alert_stream(
    hub: Hub, read: Reader, zone_id: str, *, last_id: int | None, staff: bool, render: Render
) -> AsyncIterator[bytes]:
    """A zone's alert events: the missed ones after ``last_id`` (or a ``reset`` with the zone's
    unresolved alerts), then each new one. Ids are the ``alert_events`` ids."""
    # Subscribed before reading the table: an event committed meanwhile is queued, and skipped
    # if the read already had it (ids only grow).
    sub = hub.subscribe("alerts", zone_id)
    try:
        yield sse.retry(hub.config.retry_ms)
        sent, frames = await _catch_up(hub, read, sub.zone_id, last_id, staff, render)
        for frame in frames:
            yield frame
        while True:
            item = await _next(hub, sub)
            if item is None:
                return
            if sub.lost:
                if _drain(sub):
                    return
                sent, frames = await _catch_up(hub, read, sub.zone_id, sent, staff, render)
                for frame in frames:
                    yield frame
            elif item is sse.HEARTBEAT:
                yield sse.HEARTBEAT
            elif isinstance(item, AlertItem) and item.event.event_id > sent:
                sent = item.event.event_id
                if staff or not item.in_home:
                    yield _alert_event(item.event, render).encode()
            elif item is WAKE:
                continue
    finally:
        hub.unsubscribe(sub)


async def _catch_up(
    hub: Hub, read: Reader, zone: str, after: int | None, staff: bool, render: Render
) -> tuple[int, list[bytes]]:
    """The frames that bring a client from event ``after`` to now, and the id they reach
    (read through ``read``: the request pool, not the hub's)."""
    async with read() as conn:
        if after is not None:
            missed = await alert_store.events_after(
                conn, after, zone_id=zone, limit=RESUME_LIMIT + 1
            )
            if len(missed) <= RESUME_LIMIT:
                homes = await _homes(hub, conn, [e.alert.subject for e in missed], staff)
                frames = [
                    _alert_event(e, render).encode() for e in missed if e.alert.subject not in homes
                ]
                return (missed[-1].event_id if missed else after), frames
        newest = await alert_store.last_event_id(conn)
        alerts = [
            a
            for state in ("open", "acknowledged")
            for a in await alert_store.list_alerts(
                conn,
                zone_id=zone,
                state=state,
                limit=SNAPSHOT_LIMIT,
            )
        ]
        homes = await _homes(hub, conn, [a.subject for a in alerts], staff)
    shown = sorted((a for a in alerts if a.subject not in homes), key=lambda a: a.alert_id or 0)
    reset = sse.event(str(newest), "reset", {"zone_id": zone, "alerts": [render(a) for a in shown]})
    return newest, [reset.encode()]


async def _homes(hub: Hub, conn: Conn, subjects: list[str], staff: bool) -> set[str]:
    return set() if staff else await hub.homes(conn, subjects)


def _alert_event(event: AlertEvent, render: Render) -> sse.Event:
    return sse.event(
        str(event.event_id),
        "alert",
        {
            "event_id": event.event_id,
            "action": event.action,
            "at": event.at.isoformat(),
            "alert": render(event.alert),
        },
    )
