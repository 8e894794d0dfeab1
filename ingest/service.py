"""The ingest loop: receive, decode, write in batches, commit, then acknowledge.

Nothing is acknowledged before it is committed, so a crash at any point loses nothing: the broker
redelivers what was not acknowledged, and the idempotent store turns redeliveries into no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from civicpulse.errors import ConfigError, SchemaError, StorageError
from civicpulse.mqtt.client import BrokerAddress
from civicpulse.proc import alive
from civicpulse.settings import Settings
from devices.contract import Limits
from devices.model import DeviceType
from devices.types import DEVICE_TYPES
from ingest import lease
from ingest.batching import Backoff, FlushPolicy
from ingest.devices_cache import DeviceCache
from ingest.drops import DropRecord, DropReport, account
from ingest.late_rollups import LateRollups
from ingest.metrics import Metrics, MetricsCollector, registry_for, serve
from ingest.mqtt import MqttSource
from ingest.mqtt_asyncio import AsyncioSource
from ingest.prepare import InMessage, prepare, storage_rejection
from storage import meta
from storage.batch import Prepared
from storage.connection import Mode, connect, server_info
from storage.errors import MIGRATE_HINT
from storage.writer import Store

logger = logging.getLogger(__name__)

AWAY_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class IngestConfig:
    database_url: str
    mqtt_url: str
    client_id: str = "civicpulse-ingest"
    share_group: str | None = None
    flush: FlushPolicy = field(default_factory=FlushPolicy)
    receive_maximum: int = 20_000
    session_expiry: int = 7 * 24 * 3600
    limits: Limits = field(default_factory=Limits)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    """0 disables the metrics endpoint."""
    protocol: Literal["5", "3.1.1"] = "5"
    mqtt_client: Literal["asyncio", "paho"] = "asyncio"
    """asyncio: ingest.mqtt_asyncio (batched reads and acks); paho: ingest.mqtt."""
    drain: bool = False
    """Retire this session: unsubscribe, store what it holds, end it (see ingest.sessions)."""
    drain_idle: float = 2.0
    """In drain mode, how long without a message means the session is empty."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        database_url: str,
        mqtt_url: str,
        client_id: str,
        share_group: str | None,
    ) -> IngestConfig:
        """The configuration an ingest process runs with, from the platform's settings."""
        return cls(
            database_url=database_url,
            mqtt_url=mqtt_url,
            client_id=client_id,
            share_group=share_group,
            flush=FlushPolicy(
                max_messages=settings.ingest_batch_max_rows,
                max_delay=settings.ingest_batch_max_delay_ms / 1000,
            ),
            receive_maximum=settings.ingest_receive_maximum,
            session_expiry=settings.ingest_session_expiry_s,
            limits=limits_from(
                max_payload_bytes=settings.max_payload_bytes,
                max_batch_items=settings.max_batch_items,
                max_future_skew_s=settings.max_future_skew_s,
                max_age_days=settings.max_age_days,
            ),
            metrics_host=settings.ingest_metrics_host,
            metrics_port=settings.ingest_metrics_port,
            protocol=settings.mqtt_protocol,
            mqtt_client=settings.ingest_mqtt_client,
        )


def limits_from(
    *, max_payload_bytes: int, max_batch_items: int, max_future_skew_s: int, max_age_days: int
) -> Limits:
    return Limits(
        max_payload_bytes=max_payload_bytes,
        max_batch_items=max_batch_items,
        max_future_skew=timedelta(seconds=max_future_skew_s),
        max_age=timedelta(days=max_age_days),
    )


class Ingest:
    """One ingest process: an MQTT source, a device cache and a store, driven by :meth:`run`."""

    def __init__(
        self, config: IngestConfig, *, types: Mapping[str, DeviceType] = DEVICE_TYPES
    ) -> None:
        self.config = config
        self.metrics = Metrics()
        self._types = types
        self._devices = DeviceCache(types)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._backoff = Backoff()
        self._store: Store | None = None
        self._mode: Mode | None = None
        self._late: LateRollups | None = None
        self._lease_renewed = 0.0
        self._stopped_writing = asyncio.Event()
        source_class = AsyncioSource if config.mqtt_client == "asyncio" else MqttSource
        self._source: AsyncioSource | MqttSource = source_class(
            BrokerAddress.parse(config.mqtt_url),
            client_id=config.client_id,
            share_group=config.share_group,
            receive_maximum=config.receive_maximum,
            session_expiry=config.session_expiry,
            protocol=config.protocol,
            drain=config.drain,
        )

    def stop(self) -> None:
        """Ask :meth:`run` to finish: it commits and acknowledges the batch it is writing, if
        any, then returns; what it holds beyond that stays unacknowledged, for the next
        session."""
        self._stop.set()
        self._wake.set()

    async def wait_ready(self, seconds: float) -> bool:
        """Whether ingest is connected and subscribed within ``seconds``."""
        return await self._source.wait_subscribed(seconds)

    async def run(self) -> None:
        server = None
        if self.config.metrics_port:
            server = serve(
                registry_for(MetricsCollector(self.metrics)),
                self.config.metrics_host,
                self.config.metrics_port,
                "CIVICPULSE_INGEST_METRICS_PORT",
            )
        refresher: asyncio.Task[None] | None = None
        try:
            if await self._start():
                if self._mode is Mode.TIMESCALEDB:
                    self._late = LateRollups(self.config.database_url, self._types)
                    refresher = asyncio.create_task(self._late.run(self._stopped_writing))
                await self._loop()
        finally:
            self._stopped_writing.set()
            if refresher is not None:
                await refresher
            await self._source.close(end_session=self.config.drain)
            if self._lease_renewed and not self.config.drain:
                with contextlib.suppress(StorageError):
                    await self._lease("release")
            if self._store is not None:
                await self._store.close()
            if server is not None:
                server.close()
            logger.info(
                "ingest stopped: %d messages received, %d acknowledged",
                self.metrics.messages_received,
                self.metrics.messages_acked,
            )

    async def _start(self) -> bool:
        """Connect to the database (retrying while it is unreachable), then to the broker.
        False if asked to stop first."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                await self._connect_store()
                break
            except StorageError as error:
                if not error.retryable:
                    raise
                if not await self._retry_later(error, attempt, 0, "connecting to the database"):
                    return False
                attempt += 1

        if not self.config.drain:
            await self._lease("acquire")

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._source.start(wake)
        return True

    async def _lease(self, action: str) -> None:
        """Acquire, renew or release this process's lease on its client id (ingest.lease)."""
        me = lease.Holder(socket.gethostname(), os.getpid(), time.time())
        key = lease.lease_key(self.config.client_id)
        store = await self._connect_store()
        if action == "release":
            await meta.update(store.connection, key, lambda v: lease.release(v, me))
            return
        if action == "renew":
            kept = await meta.update(store.connection, key, lambda v: lease.renew(v, me))
            holder = None if kept else lease.Holder("another host or process", 0, 0)
        else:
            holder = await meta.update(store.connection, key, lambda v: lease.acquire(v, me, alive))
        self._lease_renewed = time.monotonic()
        if holder is not None:
            who = f"pid {holder.pid} on {holder.host}" if holder.pid else holder.host
            raise ConfigError(
                "CIVICPULSE_INGEST_CLIENT_ID",
                f"another ingest process ({who}) runs as {self.config.client_id!r}; two"
                " processes with one client id take the broker session from each other for"
                " ever. Run one `civicpulse ingest --workers N`, or give each process its own"
                " CIVICPULSE_INGEST_CLIENT_ID",
            )

    async def _loop(self) -> None:
        source, policy = self._source, self.config.flush
        epoch = source.epoch
        while True:
            if source.taken_over:
                raise ConfigError(
                    "CIVICPULSE_INGEST_CLIENT_ID",
                    f"another client connected to the broker as {self.config.client_id!r} and"
                    " took this ingest's session over; every ingest process needs its own"
                    " client id (run one `civicpulse ingest --workers N`, or give each process"
                    " its own CIVICPULSE_INGEST_CLIENT_ID)",
                )
            if source.epoch != epoch:
                epoch = source.epoch
                logger.info("reconnected: unacknowledged messages will be redelivered")
            counts = source.broker_counts()
            if counts is not None:
                await self._account_drops(*counts)
            if (
                not self.config.drain
                and time.monotonic() - self._lease_renewed > lease.RENEW_EVERY_S
            ):
                try:
                    await self._lease("renew")
                except StorageError as error:  # the database write path will say more
                    logger.warning("could not renew this process's lease (%s)", error)
            source.warn_if_unanswered()
            pending = source.pending()
            self.metrics.pending = pending
            self.metrics.mqtt_connects = source.connects
            if self.config.drain and pending == 0 and self._source.ready:
                last = self._source.last_received or self._source.ready_at
                if time.time() - last > self.config.drain_idle:
                    return  # everything it held is committed and acknowledged
            if self._stop.is_set():
                # The batch being written when the request came is committed and acknowledged
                # (the loop only gets here after it); what is still queued stays unacknowledged
                # and the broker redelivers it to the next session. Stopping takes one batch at
                # most, however much a broker sent past Receive Maximum (Mosquitto 2.0.11 does
                # on a resumed session) or keeps refilling from a backlog.
                return
            oldest = source.oldest_received_at()
            age = time.time() - oldest if oldest is not None else 0.0
            wait = policy.wait_time(pending, age)
            if wait > 0:
                self._wake.clear()
                if pending == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                else:
                    await asyncio.sleep(wait)
                continue
            batch = source.drain(policy.max_messages)
            self.metrics.messages_received += len(batch)
            if not await self._write(batch):
                return  # stopped during an outage: the batch stays unacknowledged
            self.metrics.messages_acked += source.ack(batch)

    async def _write(self, batch: list[InMessage]) -> bool:
        """Write ``batch`` until it is committed; database failures are retried with backoff.

        Returns False when ingest was asked to stop before the batch could be committed: the
        batch stays unacknowledged, and the broker keeps it for the next run.
        """
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                store = await self._connect_store()
                prepared = await self._prepare(store, batch)
                await self._commit(store, prepared)
                self.metrics.observe_batch(time.perf_counter() - started)
                return True
            except StorageError as error:
                if error.rejected:
                    # The batch decoded but the database refuses part of it: find the culprits
                    # one message at a time and quarantine them, keep the rest.
                    logger.warning("batch refused (%s); isolating the bad messages", error.detail)
                    return await self._write_one_by_one(batch)
                if not await self._retry_later(error, attempt, len(batch), "database write"):
                    return False
                attempt += 1

    async def _write_one_by_one(self, batch: list[InMessage]) -> bool:
        for message in batch:
            attempt = 0
            while True:
                try:
                    store = await self._connect_store()
                    prepared = await self._prepare(store, [message])
                    try:
                        await self._commit(store, prepared)
                    except StorageError as error:
                        if not error.rejected:
                            raise
                        detail = f"SQLSTATE {error.sqlstate}: {error.detail}"
                        await self._commit(
                            store, Prepared(quarantine=[storage_rejection(message, detail)])
                        )
                    break
                except StorageError as error:
                    if not await self._retry_later(error, attempt, 1, "database write"):
                        return False
                    attempt += 1
        return True

    async def _retry_later(self, error: StorageError, attempt: int, held: int, what: str) -> bool:
        """Log, drop the connection and wait before another attempt; False if asked to stop.

        Nothing is acknowledged while ingest waits, so the broker holds further messages
        (Receive Maximum). An error no retry fixes by itself (a missing table, a permission)
        is retried too, loudly: an operator fixing it resumes ingest without a restart.
        """
        self.metrics.db_errors += 1
        delay = self._backoff.delay(attempt)
        log = logger.warning if error.retryable else logger.error
        log(
            "%s failed (%s); retrying in %.1f s, %d messages held unacknowledged",
            what,
            error,
            delay,
            held,
        )
        await self._drop_store()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)
        if self._stop.is_set():
            logger.info("stopping during a database outage: %d messages stay with the broker", held)
            return False
        return True

    async def _prepare(self, store: Store, batch: list[InMessage]) -> Prepared:
        # Each topic once: a batch holds a few messages of each of many devices.
        await self._devices.resolve(store.connection, {m.topic for m in batch})
        return prepare(batch, self._devices.lookup, self.config.limits, self._types)

    async def _commit(self, store: Store, prepared: Prepared) -> None:
        result = await store.write(prepared)
        if self._late is not None:
            self._late.note(prepared)
        m = self.metrics
        m.rows_written.update(result.inserted)
        m.duplicates.update({k: v for k, v in result.duplicates.items() if v})
        for row in prepared.quarantine:
            m.quarantined[row.reason.value] += 1
        m.status_changes += result.status_changes

    async def _connect_store(self) -> Store:
        if self._store is not None and not self._store.closed:
            return self._store
        url = self.config.database_url
        async with await connect(url) as conn:
            info = await server_info(conn)
            if info.mode is None:
                raise SchemaError("ingest", "the database is not migrated", hint=MIGRATE_HINT)
            await self._devices.load_all(conn)
        self._mode = info.mode
        self._store = await Store.open(url, info.mode, self._types)
        logger.info(
            "database connected (%s mode, %d devices known)", self._mode, len(self._devices)
        )
        return self._store

    async def _drop_store(self) -> None:
        if self._store is not None:
            await self._store.close()
        self._store = None

    async def _account_drops(self, dropped: int, uptime_s: float) -> None:
        """Report what the broker dropped since the deployment last looked (see ingest.drops)."""
        self.metrics.broker_dropped = dropped
        now = time.time()

        def change(value: Any) -> tuple[Any, DropReport]:
            record, report = account(DropRecord.from_json(value), dropped, uptime_s, now)
            return record.to_json(), report

        try:
            store = await self._connect_store()
            report = await meta.update(store.connection, drops_key(self._source.url), change)
        except StorageError as error:
            logger.warning("could not record the broker's drop count (%s); will try again", error)
            return
        if report.dropped <= 0:
            return
        since = "" if report.since is None else f" since {_clock(report.since)}"
        # The broker publishes $SYS every sys_interval (10 s by default) and hands a new
        # subscriber the last, possibly older, value: drops seen in the first minute after this
        # process connected happened before it, while ingest was away.
        first_ready = self._source.first_ready_at
        if first_ready is None or now - first_ready < AWAY_WINDOW_S:
            self.metrics.broker_dropped_while_away += report.dropped
            logger.error(
                "the broker dropped %d messages while ingest was away%s%s; those that were"
                " ingest's are lost (Mosquitto counts drops for all its clients together). Raise"
                " the broker's max_queued_messages (docs/operations.md#broker-queue-limits)",
                report.dropped,
                since,
                " (it restarted since; drops before its restart could not be counted)"
                if report.restarted
                else "",
            )
        else:
            logger.error(
                "the broker dropped %d messages%s (queue or inflight limits; see"
                " docs/operations.md#broker-queue-limits)",
                report.dropped,
                since,
            )


def drops_key(broker_url: str) -> str:
    """Where a deployment keeps the drop count of the broker at ``broker_url``."""
    return f"ingest.broker_drops.{broker_url}"


def _clock(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def run_ingest(config: IngestConfig) -> Metrics:
    """Run until SIGINT/SIGTERM; returns the final counters."""
    ingest = Ingest(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, ingest.stop)
    try:
        await ingest.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return ingest.metrics
