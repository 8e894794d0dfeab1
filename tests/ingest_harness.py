"""Helpers for end-to-end tests: register a fleet, run ingest in-process, publish from a thread,
count what was stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType

import psycopg

from devices.registry import Device
from ingest.service import Ingest, IngestConfig
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage.connection import connect
from storage.registry import upsert

TABLES = ("air_quality_readings", "parking_bay_readings", "smart_meter_readings")


async def register(url: str, fleet: Fleet) -> None:
    async with await connect(url) as conn:
        await upsert(conn, [Device(d.device_id, d.device_type) for d in fleet.devices])


def config(database_url: str, mqtt_url: str, **overrides: object) -> IngestConfig:
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_url": mqtt_url,
        "client_id": f"test-ingest-{uuid.uuid4().hex[:10]}",
        "session_expiry": 30,  # long enough for a broker restart; short on a shared broker
        # "3.1.1" for brokers without MQTT 5 (the embedded amqtt sets it; CI may too).
        "protocol": os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5"),
    }
    values.update(overrides)
    return IngestConfig(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(cfg: IngestConfig) -> AsyncIterator[Ingest]:
    """Ingest running in this event loop; stopped (drained) on exit."""
    ingest = Ingest(cfg)
    task = asyncio.create_task(ingest.run())
    try:
        if not await ingest.wait_ready(30):
            raise TimeoutError("ingest did not subscribe within 30 s")
        yield ingest
    finally:
        ingest.stop()
        await asyncio.wait_for(task, 60)


async def wait_for(predicate, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def stored(url: str, prefix: str) -> dict[str, int]:
    """Rows per readings table for devices whose id starts with ``prefix``."""
    with psycopg.connect(url) as conn:
        counts = {}
        for table in TABLES:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE device_id LIKE %s", (f"{prefix}%",)
            ).fetchone()
            assert row is not None
            counts[table] = int(str(row[0]))
        return counts


def wait_until(predicate: Callable[[], bool], seconds: float = 60.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds: tests wait for events, never for a fixed time."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {seconds} s: {what or 'condition'}")
        time.sleep(0.05)


class Publisher:
    """Publishes ``messages`` at QoS 1 from a thread, as a context manager.

    With ``pause_after``, it publishes that many and waits for :meth:`resume` before the rest, so
    a test can land a fault mid-stream and know that work is still to come. Leaving the block
    resumes it (a failed test never leaves it waiting); :meth:`join` re-raises its error.
    """

    def __init__(
        self, mqtt_url: str, messages: Sequence[tuple[str, bytes]], *, pause_after: int = 0
    ) -> None:
        self._url = mqtt_url
        self._head = messages[:pause_after] if pause_after else messages
        self._tail = messages[pause_after:] if pause_after else []
        self._resumed = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def _run(self) -> None:
        client_id = f"test-publisher-{uuid.uuid4().hex[:8]}"
        try:
            publish_all(self._url, self._head, client_id=client_id)
            self._resumed.wait()
            if self._tail:
                publish_all(self._url, self._tail, client_id=client_id)
        except BaseException as error:  # re-raised by join, in the test's thread
            self._error = error

    def __enter__(self) -> Publisher:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._resumed.set()

    def resume(self) -> None:
        """Publish the rest."""
        self._resumed.set()

    def join(self, seconds: float = 120.0) -> None:
        """Wait until every message is published and acknowledged by the broker."""
        self._thread.join(seconds)
        if self._thread.is_alive():
            raise TimeoutError(f"the publisher did not finish within {seconds} s")
        if self._error is not None:
            raise self._error
