"""One hub per API process: it listens to the change feed and the alert feed once, keeps the
bays' live state, and fans events out to every client streaming a zone.

No client polls anything: the readings feed (:mod:`storage.feed`) says which bays ingest has just
committed readings for, the alert feed (:mod:`storage.alert_feed`) which alert event was just
recorded, and a one-second tick lets the parking analytics apply the changes nobody reports (a
confirmed change, a missed heartbeat). Each change costs work for the bays it names and the
zones they are in; each event costs a queue put per client of its zone.

**Ids and resuming.** A zone's availability events are numbered ``<epoch>-<n>``: ``epoch`` is
this process's (random, per start) and ``n`` counts the zone's events. The last
:attr:`LiveConfig.replay` events of every zone are kept, so a client reconnecting to the same
process with ``Last-Event-ID`` gets what it missed; otherwise (another worker, a restart, too
old) it gets a ``reset`` with the zone's current counts. Alert events carry the database's
``alert_events`` id, the same in every process, so an alert stream resumes from the table.

**Gaps.** When a feed's connection drops the hub listens again and catches up from the tables:
parking clients get a ``reset`` with the counts as they are now (changes may have happened
unseen), alert clients the events they missed, read by id. A client too slow to keep up (its
queue full) is treated the same way: it gets a ``reset`` rather than a silently broken sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from api.live import sse
from api.live.bays import BayBoard, ZoneCounts
from civicpulse.errors import StorageError
from devices.model import DeviceType
from storage import alerts as alert_store
from storage import registry
from storage.alert_feed import AlertFeed, AlertNotice
from storage.alerts import AlertEvent
from storage.connection import Conn
from storage.feed import Change, Feed, Gap

logger = logging.getLogger(__name__)

Reader = Callable[[], AbstractAsyncContextManager[Conn]]


@dataclass(frozen=True, slots=True)
class LiveConfig:
    heartbeat_s: float = 15.0
    """A comment line this often on an idle stream (proxies close idle connections)."""
    tick_s: float = 1.0
    """How often the parking analytics are given the wall clock."""
    reload_s: float = 300.0
    """How often the registry (bays, zones) and the alert rules are read again."""
    replay: int = 256
    """Availability events kept per zone for clients that reconnect."""
    queue: int = 256
    """Events waiting for one client before it is reset."""
    max_streams: int = 2000
    """Streams one process serves at once; more are refused (503)."""
    ready_s: float = 10.0
    """How long a request waits for the first catch-up before answering 503."""
    retry_ms: int = 3000
    """The reconnection delay suggested to clients."""


@dataclass(frozen=True, slots=True)
class AlertItem:
    """An alert event for the clients of its zone; each sees it as its scope allows."""

    event: AlertEvent
    in_home: bool
    """About a device in a home: shown to staff only."""


WAKE: Literal["wake"] = "wake"
"""Put on a client's queue after marking it lost: the stream wakes up and resets."""
Item = sse.Event | AlertItem | Literal["wake"] | None
"""What a client's queue holds; ``None``: the hub is closing, end the stream."""


@dataclass(eq=False, slots=True)
class Subscriber:
    kind: Literal["parking", "alerts"]
    zone_id: str
    queue: asyncio.Queue[Item]
    lost: bool = False
    """Events were dropped (a gap in a feed, or the client fell behind): reset before going on."""


@dataclass(slots=True)
class _ZoneLog:
    seq: int = 0
    events: deque[tuple[int, sse.Event]] = field(default_factory=deque)


class Hub:
    def __init__(
        self,
        *,
        database_url: str,
        read: Reader,
        types: Mapping[str, DeviceType],
        config: LiveConfig | None = None,
    ) -> None:
        self.config = config or LiveConfig()
        self.board = BayBoard()
        self.epoch = secrets.token_hex(4)
        self._url = database_url
        self._read = read
        self._types = types
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribers: dict[tuple[str, str], set[Subscriber]] = {}
        self._logs: dict[str, _ZoneLog] = {}
        self._kinds: dict[str, str] = {}
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow_readings(), name="live-readings"),
            asyncio.create_task(self._follow_alerts(), name="live-alerts"),
        ]

    async def close(self) -> None:
        self._closing = True
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            # Again until they end: on Python 3.11 a cancellation that arrives as a wait_for
            # inside psycopg completes can be lost (CPython gh-86296).
            _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                logger.warning("live updates: %s ended with %r", task.get_name(), task.exception())
        for subscribers in self._subscribers.values():
            for sub in subscribers:
                _offer(sub, None, force=True)

    async def wait_ready(self) -> bool:
        """Whether the bays' state has been caught up (waiting up to ``ready_s``)."""
        if self._ready.is_set():  # every request asks: no task, no timer
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), self.config.ready_s)
        return self._ready.is_set()

    @property
    def streams(self) -> int:
        """Clients streaming from this process now."""
        return sum(len(s) for s in self._subscribers.values())

    @property
    def kinds(self) -> Mapping[str, str]:
        """Alert rule → its kind."""
        return self._kinds

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(self, kind: Literal["parking", "alerts"], zone_id: str) -> Subscriber:
        sub = Subscriber(kind, zone_id, asyncio.Queue(self.config.queue))
        self._subscribers.setdefault((kind, zone_id), set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        key = (sub.kind, sub.zone_id)
        found = self._subscribers.get(key)
        if found is not None:
            found.discard(sub)
            if not found:
                del self._subscribers[key]

    def availability_event(self, zone_id: str, name: str = "reset") -> sse.Event:
        """The zone's counts now, as an event whose id resumes after the zone's latest."""
        log = self._logs.get(zone_id)
        return _availability(
            f"{self.epoch}-{0 if log is None else log.seq}",
            name,
            self.board.zone_counts(zone_id),
        )

    def replay(self, zone_id: str, last_id: str | None) -> list[sse.Event] | None:
        """The zone's events after ``last_id``; ``None`` when they are not all here."""
        if last_id is None:
            return None
        epoch, _, number = last_id.partition("-")
        if epoch != self.epoch or not number.isdigit():
            return None
        seen = int(number)
        log = self._logs.get(zone_id, _ZoneLog())
        if seen > log.seq:
            return None
        missed = [e for n, e in log.events if n > seen]
        if len(missed) < log.seq - seen:  # the oldest of them are no longer kept
            return None
        return missed

    # -- the readings feed ----------------------------------------------------------------

    async def _follow_readings(self) -> None:
        feed = Feed(self._url)
        first = True
        try:
            while not self._closing:
                try:
                    await feed.start()
                    await self._readings(feed, first)
                except StorageError as error:
                    self._ready.clear()
                    logger.warning("live updates: change feed lost (%s); listening again", error)
                    await asyncio.sleep(1.0)
                first = False
        finally:
            await feed.close()

    async def _readings(self, feed: Feed, first: bool) -> None:
        last_tick = loaded = time.monotonic()
        while True:
            try:
                item: Change | Gap | None = await asyncio.wait_for(feed.get(), self.config.tick_s)
            except TimeoutError:
                item = None
            now = datetime.now(UTC)
            if isinstance(item, Gap):
                async with self._read() as conn:
                    zones = await self.board.catch_up(conn, now)
                loaded = time.monotonic()
                if first:
                    first = False
                    self._publish_counts(zones)
                else:  # changes went unseen: everyone starts again from the counts as they are
                    self._publish_counts(zones, quiet=True)
                    self._reset_all("parking")
                self._ready.set()
                logger.info(
                    "live updates: %d bays in %d zones caught up",
                    len(self.board.places),
                    len(self.board.members),
                )
            elif isinstance(item, Change) and item.device_type == "parking_bay":
                async with self._read() as conn:
                    self._publish_counts(await self.board.on_change(conn, item, now))
            if time.monotonic() - last_tick >= self.config.tick_s:
                last_tick = time.monotonic()
                self._publish_counts(self.board.advance(now))
            if time.monotonic() - loaded >= self.config.reload_s:
                loaded = time.monotonic()
                async with self._read() as conn:
                    if await self.board.load(conn, now):
                        zones = await self.board.catch_up(conn, now)
                        self._publish_counts(zones)

    def _publish_counts(self, zones: set[str], *, quiet: bool = False) -> None:
        for zone in sorted(zones):
            log = self._logs.setdefault(zone, _ZoneLog())
            log.seq += 1
            event = _availability(
                f"{self.epoch}-{log.seq}", "availability", self.board.zone_counts(zone)
            )
            log.events.append((log.seq, event))
            while len(log.events) > self.config.replay:
                log.events.popleft()
            if not quiet:
                for sub in self._subscribers.get(("parking", zone), ()):
                    _offer(sub, event)

    def _reset_all(self, kind: str) -> None:
        for (k, _), subscribers in self._subscribers.items():
            if k == kind:
                for sub in subscribers:
                    sub.lost = True
                    _offer(sub, WAKE)

    # -- the alert feed -------------------------------------------------------------------

    async def _follow_alerts(self) -> None:
        feed = AlertFeed(self._url)
        first = True
        try:
            while not self._closing:
                try:
                    await feed.start()
                    while True:
                        item = await feed.get()
                        if isinstance(item, Gap):
                            await self._load_kinds()
                            if not first:
                                self._reset_all("alerts")
                            first = False
                        else:
                            await self._alert(item)
                except StorageError as error:
                    logger.warning("live updates: alert feed lost (%s); listening again", error)
                    await asyncio.sleep(1.0)
        finally:
            await feed.close()

    async def _load_kinds(self) -> None:
        async with self._read() as conn:
            self._kinds = {rule.rule_id: rule.kind for rule in await alert_store.rules(conn)}

    async def _alert(self, notice: AlertNotice) -> None:
        subscribers = self._subscribers.get(("alerts", notice.zone_id or ""))
        if not subscribers:
            return  # nobody is listening to this zone: no need to read anything
        async with self._read() as conn:
            found = await alert_store.events_after(
                conn, notice.event_id - 1, zone_id=notice.zone_id, limit=1
            )
            if not found or found[0].event_id != notice.event_id:
                return  # a delivery record ("notified"): nothing changed for the alert
            subject = found[0].alert.subject
            item = AlertItem(found[0], subject in await self.homes(conn, [subject]))
            if found[0].alert.rule_id not in self._kinds:
                self._kinds = {r.rule_id: r.kind for r in await alert_store.rules(conn)}
        for sub in subscribers:
            _offer(sub, item)

    async def homes(self, conn: Conn, subjects: Iterable[str]) -> set[str]:
        """Which alert subjects are devices in homes (or of a type no plugin describes): their
        alerts are shown to staff only, as in ``/v1/alerts``."""
        wanted = sorted(set(subjects))
        if not wanted:
            return set()
        found = await registry.device_types(conn, wanted)
        return {d for d, t in found if t not in self._types or self._types[t].personal}


def _offer(sub: Subscriber, item: Item, *, force: bool = False) -> None:
    """Queue ``item`` for a client; a client whose queue is full is marked lost instead."""
    try:
        sub.queue.put_nowait(item)
    except asyncio.QueueFull:
        sub.lost = True
        if force:  # closing: make room for the end
            with contextlib.suppress(asyncio.QueueEmpty):
                sub.queue.get_nowait()
            sub.queue.put_nowait(item)


def _availability(event_id: str, name: str, zone: ZoneCounts) -> sse.Event:
    c = zone.counts
    return sse.event(
        event_id,
        name,
        {
            "zone_id": zone.zone_id,
            "free": c.free,
            "occupied": c.occupied,
            "unknown": c.unknown,
            "closed": c.closed,
            "total": c.total,
            "changed_at": zone.changed_at.isoformat(),
        },
    )
