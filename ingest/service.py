"""The ingest loop: receive, decode, write in batches, commit, then acknowledge.

Nothing is acknowledged before it is committed, so a crash at any point loses nothing: the broker
redelivers what was not acknowledged, and the idempotent store turns redeliveries into no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import psycopg

from civicpulse.broker import BrokerAddress
from civicpulse.db import Mode, connect, server_info
from civicpulse.errors import StorageError
from devices.contract import Limits
from devices.model import DeviceType
from devices.types import DEVICE_TYPES
from ingest.batching import Backoff, FlushPolicy
from ingest.devices_cache import DeviceCache
from ingest.metrics import Metrics, serve_metrics
from ingest.mqtt import MqttSource
from ingest.prepare import InMessage, Prepared, prepare, storage_rejection
from ingest.store import Store

logger = logging.getLogger(__name__)


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
    drain: bool = False
    """Retire this session: unsubscribe, store what it holds, end it (see ingest.sessions)."""
    drain_idle: float = 2.0
    """In drain mode, how long without a message means the session is empty."""


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
        self._source = MqttSource(
            BrokerAddress.parse(config.mqtt_url),
            client_id=config.client_id,
            share_group=config.share_group,
            receive_maximum=config.receive_maximum,
            session_expiry=config.session_expiry,
            on_dropped=self._broker_dropped,
            protocol=config.protocol,
            drain=config.drain,
        )

    def stop(self) -> None:
        """Ask :meth:`run` to finish: it writes and acknowledges what it holds, then returns."""
        self._stop.set()
        self._wake.set()

    async def wait_ready(self, seconds: float) -> bool:
        """Whether ingest is connected and subscribed within ``seconds``."""
        return await self._source.wait_subscribed(seconds)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        server = None
        if self.config.metrics_port:
            server = await serve_metrics(
                self.metrics, self.config.metrics_host, self.config.metrics_port
            )
        await self._connect_store()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._source.start(wake)
        try:
            await self._loop()
        finally:
            self._source.stop(end_session=self.config.drain)
            if self._store is not None:
                await self._store.close()
            if server is not None:
                server.close()
                await server.wait_closed()
            logger.info(
                "ingest stopped: %d messages received, %d acknowledged",
                self.metrics.messages_received,
                self.metrics.messages_acked,
            )

    async def _loop(self) -> None:
        source, policy = self._source, self.config.flush
        epoch = source.epoch
        while True:
            if source.epoch != epoch:
                epoch = source.epoch
                logger.info("reconnected: unacknowledged messages will be redelivered")
            pending = source.pending()
            self.metrics.pending = pending
            self.metrics.mqtt_connects = source.connects
            if self.config.drain and pending == 0 and self._source.ready:
                last = self._source.last_received or self._source.ready_at
                if time.time() - last > self.config.drain_idle:
                    return  # everything it held is committed and acknowledged
            if self._stop.is_set():
                if pending == 0:
                    return
                wait = 0.0
            else:
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
            await self._write(batch)
            self.metrics.messages_acked += source.ack(batch)

    async def _write(self, batch: list[InMessage]) -> None:
        """Write ``batch`` until it is committed; database failures are retried with backoff."""
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                store = await self._connect_store()
                prepared = await self._prepare(store, batch)
                await self._commit(store, prepared)
                self.metrics.observe_batch(time.perf_counter() - started)
                return
            except (psycopg.DataError, psycopg.IntegrityError) as error:
                # The batch decoded but the database refuses part of it: find the culprits
                # one message at a time and quarantine them, keep the rest.
                logger.warning("batch refused (%s); isolating the bad messages", error)
                await self._write_one_by_one(batch)
                return
            except (psycopg.Error, StorageError, OSError) as error:
                self.metrics.db_errors += 1
                delay = self._backoff.delay(attempt)
                attempt += 1
                logger.warning(
                    "database write failed (%s); retrying in %.1f s, %d messages held unacknowledged",
                    str(error).splitlines()[0] if str(error) else type(error).__name__,
                    delay,
                    len(batch),
                )
                await self._drop_store()
                # Sleeping is not enough on its own: while ingest waits, nothing is acknowledged,
                # and the broker holds further messages (Receive Maximum).
                await asyncio.sleep(delay)

    async def _write_one_by_one(self, batch: list[InMessage]) -> None:
        for message in batch:
            attempt = 0
            while True:
                try:
                    store = await self._connect_store()
                    prepared = await self._prepare(store, [message])
                    try:
                        await self._commit(store, prepared)
                    except (psycopg.DataError, psycopg.IntegrityError) as error:
                        detail = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                        await self._commit(
                            store, Prepared(quarantine=[storage_rejection(message, detail)])
                        )
                    break
                except (psycopg.Error, StorageError, OSError) as error:
                    self.metrics.db_errors += 1
                    delay = self._backoff.delay(attempt)
                    attempt += 1
                    logger.warning("database write failed (%s); retrying in %.1f s", error, delay)
                    await self._drop_store()
                    await asyncio.sleep(delay)

    async def _prepare(self, store: Store, batch: list[InMessage]) -> Prepared:
        await self._devices.resolve(store.connection, (m.topic for m in batch))
        return prepare(batch, self._devices.lookup, self.config.limits, self._types)

    async def _commit(self, store: Store, prepared: Prepared) -> None:
        result = await store.write(prepared)
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
        try:
            async with await connect(url) as conn:
                info = await server_info(conn)
                if info.mode is None:
                    raise StorageError(
                        "ingest", "the database is not migrated: run `civicpulse db migrate`"
                    )
                await self._devices.load_all(conn)
            self._mode = info.mode
            self._store = await Store.open(url, info.mode, self._types)
        except psycopg.Error as error:
            raise StorageError("connect", str(error)) from error
        logger.info(
            "database connected (%s mode, %d devices known)", self._mode, len(self._devices)
        )
        return self._store

    async def _drop_store(self) -> None:
        if self._store is not None:
            with contextlib.suppress(psycopg.Error):
                await self._store.close()
        self._store = None

    def _broker_dropped(self, count: int) -> None:
        previous = self.metrics.broker_dropped
        self.metrics.broker_dropped = count
        if previous is not None and count > previous:
            logger.error(
                "the broker dropped %d messages (queue or inflight limits; see docs/operations.md)",
                count - previous,
            )


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
