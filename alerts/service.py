"""``civicpulse alerts run``: rules evaluated as data is committed, alerts announced to
subscribers, escalated to officers, and kept across restarts.

The service listens to the change feed (``storage.feed``): an alert never fires on data that
was not stored, and a change costs work only for the devices it names. Time-driven steps (a
missed heartbeat, a stay growing too long, hysteresis running out, escalation) come from a tick
over what the service holds in memory, not from polling the database. After a start or a lost
feed connection every evaluator catches up once from the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.evaluators import Evaluator, Observation
from alerts.lifecycle import Step, acknowledge, observe, tick
from alerts.matching import Place, recipients
from alerts.messages import alert_message
from civicpulse.errors import StorageError
from delivery.dispatch import Dispatcher
from delivery.model import CHANNELS, Channel, Contact, Preferences
from storage import alerts as store
from storage.alerts import AlertRecord, Rule, Subscription
from storage.connection import Conn, connect
from storage.feed import Change, Feed, Gap
from storage.registry import list_zones

logger = logging.getLogger(__name__)

ACTOR = "civicpulse-alerts"
DEFAULT_CLEAR_AFTER = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    database_url: str
    tick_s: float = 15.0
    public_url: str = "http://127.0.0.1:8000"
    reload_s: float = 60.0
    """How often rules and subscriptions are read again (new ones take effect)."""


@dataclass(slots=True)
class Stats:
    changes: int = 0
    """Changes handled (every evaluator has seen them)."""
    ticks: int = 0
    """Ticks done."""
    steps: int = 0
    announced: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from a change's newest reading time to its alert being announced."""


class AlertService:
    def __init__(
        self,
        config: ServiceConfig,
        dispatcher: Dispatcher,
        evaluators: Sequence[Evaluator],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.stats = Stats()
        self._dispatcher = dispatcher
        self._evaluators = evaluators
        self._now = now
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._rules: list[Rule] = []
        self._subscriptions: list[Subscription] = []
        self._zones: dict[str, dict[str, Any] | None] = {}
        self._active: dict[tuple[str, str], AlertRecord] = {}
        self._places: dict[tuple[str, str], Place] = {}
        self._advice: dict[tuple[str, str], str] = {}
        self._held: list[tuple[datetime, AlertRecord, str, Subscription]] = []
        self._loaded_at = 0.0
        self._next_tick = 0.0

    def stop(self) -> None:
        self._stop.set()

    @property
    def active(self) -> Mapping[tuple[str, str], AlertRecord]:
        """The unresolved alerts, by (rule, subject)."""
        return dict(self._active)

    async def wait_ready(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), seconds)
        return self._ready.is_set()

    async def run(self) -> None:
        conn = await connect(self.config.database_url, autocommit=True)
        feed = Feed(self.config.database_url)
        try:
            await self._load(conn)
            for alert in await store.active_alerts(conn):
                self._active[(alert.rule_id, alert.subject)] = alert
            logger.info(
                "alert service: %d rules, %d subscriptions, %d active alerts",
                len(self._rules),
                len(self._subscriptions),
                len(self._active),
            )
            await feed.start()
            self._next_tick = clock.monotonic() + self.config.tick_s
            while not self._stop.is_set():
                await self._step(conn, feed)
        finally:
            await feed.close()
            await conn.close()
            logger.info("alert service stopped")

    async def _step(self, conn: Conn, feed: Feed) -> None:
        getter = asyncio.ensure_future(feed.get())
        stopper = asyncio.ensure_future(self._stop.wait())
        # A busy feed must not starve the tick: wait only until the next tick is due.
        done, _ = await asyncio.wait(
            {getter, stopper},
            timeout=max(0.0, self._next_tick - clock.monotonic()),
            return_when=asyncio.FIRST_COMPLETED,
        )
        stopper.cancel()
        if getter not in done:
            getter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getter
            if not self._stop.is_set():
                await self._tick(conn)
            return
        try:
            item = getter.result()
        except StorageError as error:
            logger.warning("change feed lost (%s); listening again", error)
            await asyncio.sleep(1.0)
            await feed.start()
            return
        now = self._now()
        if clock.monotonic() - self._loaded_at > self.config.reload_s:
            await self._load(conn)
        if isinstance(item, Gap):
            started = clock.monotonic()
            for evaluator in self._evaluators:
                await self._apply(conn, await evaluator.catch_up(conn, self._rules, now), now, None)
            logger.info("caught up from the tables in %.2f s", clock.monotonic() - started)
            self._ready.set()
            return
        for evaluator in self._evaluators:
            if evaluator.wants(item):
                observations = await evaluator.on_change(conn, item, self._rules, now)
                await self._apply(conn, observations, now, item)
        self.stats.changes += 1
        if clock.monotonic() >= self._next_tick:
            await self._tick(conn)

    async def _load(self, conn: Conn) -> None:
        self._rules = await store.rules(conn)
        self._subscriptions = await store.active_subscriptions(conn)
        self._zones = {z.zone_id: z.geometry for z in await list_zones(conn)}
        self._loaded_at = clock.monotonic()

    async def _tick(self, conn: Conn) -> None:
        self._next_tick = clock.monotonic() + self.config.tick_s
        now = self._now()
        for evaluator in self._evaluators:
            await self._apply(conn, await evaluator.on_tick(conn, self._rules, now), now, None)
        rules = {r.rule_id: r for r in self._rules}
        for key, alert in list(self._active.items()):
            rule = rules.get(alert.rule_id)
            if rule is None:
                continue
            escalate = (
                None
                if rule.escalate_after_minutes is None
                else timedelta(minutes=rule.escalate_after_minutes)
            )
            step = tick(alert, now=now, clear_after=_clear_after(rule), escalate_after=escalate)
            if step is not None:
                await self._record(conn, key, step, now, None)
        await self._release_held(conn, now)
        self.stats.ticks += 1

    async def _apply(
        self, conn: Conn, observations: Sequence[Observation], now: datetime, change: Change | None
    ) -> None:
        for o in observations:
            key = (o.rule.rule_id, o.subject)
            self._places[key] = o.place
            if o.condition is not None:
                self._advice[key] = o.condition.advice
            step = observe(
                self._active.get(key),
                o.condition,
                rule_id=o.rule.rule_id,
                subject=o.subject,
                now=now,
                clear_after=_clear_after(o.rule),
            )
            if step is not None:
                await self._record(conn, key, step, now, change)

    async def _record(
        self, conn: Conn, key: tuple[str, str], step: Step, now: datetime, change: Change | None
    ) -> None:
        saved = await store.save(conn, step.alert, step.action, ACTOR)
        self.stats.steps += 1
        if saved.state == "resolved":
            self._active.pop(key, None)
        else:
            self._active[key] = saved
        logger.info("alert %s %s: %s (%s)", saved.alert_id, step.action, saved.subject, saved.level)
        if step.announce:
            await self._announce(conn, saved, step.action, self._places.get(key), now)
            if change is not None:
                self.stats.latencies.append((self._now() - change.last_ts).total_seconds())

    async def acknowledge(self, conn: Conn, alert_id: int, by: str) -> AlertRecord | None:
        """An officer takes an alert on (the API and the command line call this)."""
        alert = await store.get_alert(conn, alert_id)
        if alert is None or alert.state == "resolved":
            return alert
        step = acknowledge(alert, by=by, now=self._now())
        saved = await store.save(conn, step.alert, "acknowledged", by)
        self._active[(saved.rule_id, saved.subject)] = saved
        return saved

    async def _announce(
        self, conn: Conn, alert: AlertRecord, action: str, place: Place | None, now: datetime
    ) -> None:
        self.stats.announced += 1
        rule = next((r for r in self._rules if r.rule_id == alert.rule_id), None)
        if rule is None:
            return
        if action == "escalated":
            await self._escalate(conn, alert, rule, now)
            return
        place = place or Place((alert.zone_id,) if alert.zone_id else ())
        for sub in recipients(rule.kind, alert.level, place, self._subscriptions, self._zones):
            await self._deliver(conn, alert, action, sub, now)

    async def _deliver(
        self, conn: Conn, alert: AlertRecord, action: str, sub: Subscription, now: datetime
    ) -> None:
        message = alert_message(
            alert,
            action,  # type: ignore[arg-type]
            unsubscribe_url=f"{self.config.public_url}/v1/alerts/subscriptions/{sub.token}",
            advice=self._advice.get((alert.rule_id, alert.subject), ""),
        )
        preferences = Preferences(
            channels=tuple(c for c in sub.channels if c in CHANNELS),
            quiet_start=sub.quiet_start,
            quiet_end=sub.quiet_end,
            cap=sub.max_per_day,
            cap_window=timedelta(days=1),
        )
        outcome = await self._dispatcher.deliver(
            conn,
            message,
            f"sub-{sub.subscription_id}",
            preferences,
            _contact(sub.channels),
            now=now,
        )
        self.stats.delivered += len(outcome.sent)
        if outcome.hold_until is not None:
            self._held.append((outcome.hold_until, alert, action, sub))
        if outcome.retry_at is not None:  # a channel failed for a passing reason: again then
            self._held.append((outcome.retry_at, alert, action, sub))

    async def _escalate(self, conn: Conn, alert: AlertRecord, rule: Rule, now: datetime) -> None:
        """To the rule's escalation contacts (a duty officer), ignoring caps and quiet hours."""
        targets: Mapping[str, str] = rule.params.get("escalate_to", {})
        if not targets:
            logger.warning(
                "alert %s escalated, but rule %s names no one to tell", alert.alert_id, rule.rule_id
            )
            return
        message = alert_message(alert, "escalated")
        preferences = Preferences(
            channels=tuple(c for c in targets if c in CHANNELS), cap=1_000_000
        )
        await self._dispatcher.deliver(
            conn, message, f"rule-{rule.rule_id}", preferences, _contact(targets), now=now
        )

    async def _release_held(self, conn: Conn, now: datetime) -> None:
        due = [h for h in self._held if h[0] <= now]
        self._held = [h for h in self._held if h[0] > now]
        for _, alert, action, sub in due:
            current = self._active.get((alert.rule_id, alert.subject))
            if current is not None or action == "resolved":
                await self._deliver(conn, current or alert, action, sub, now)


def _clear_after(rule: Rule) -> timedelta:
    minutes = rule.params.get("clear_after_minutes")
    return DEFAULT_CLEAR_AFTER if minutes is None else timedelta(minutes=float(minutes))


def _contact(channels: Mapping[str, str]) -> Contact:
    known: dict[Channel, str] = {c: v for c, v in channels.items() if c in CHANNELS}
    return Contact(
        email=known.get("email"),
        phone=known.get("sms"),
        mqtt_topic=known.get("mqtt"),
        webhook_url=known.get("webhook"),
    )
