"""After commit, refresh the TimescaleDB rollups of hours that received late readings.

See ``storage.rollups`` for why. The refresh runs on a connection of its own, off the write path:
it never delays an acknowledgement, and a failed refresh is retried at the next round (the
refresh policy would catch up in any case).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from civicpulse.errors import StorageError
from devices.model import DeviceType
from storage.batch import Prepared
from storage.connection import Conn, connect
from storage.rollups import TouchedBuckets, refresh_rollups

logger = logging.getLogger(__name__)


class LateRollups:
    """Collects touched past hours per batch and refreshes them every ``interval`` seconds."""

    def __init__(
        self, database_url: str, types: Mapping[str, DeviceType], interval: float = 2.0
    ) -> None:
        self._url = database_url
        self._types = types
        self._interval = interval
        self._touched = TouchedBuckets()
        self._conn: Conn | None = None
        self.refreshes = 0

    def note(self, prepared: Prepared) -> None:
        now = datetime.now(UTC)
        for type_name, rows in prepared.rows.items():
            self._touched.note(type_name, [row[1] for row in rows], now)  # type: ignore[misc]

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until ``stop`` is set, then once more for what is left."""
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
                await self.refresh()
        finally:
            if self._conn is not None:
                await self._conn.close()

    async def refresh(self) -> None:
        spans = self._touched.take()
        for type_name, (start, end) in spans.items():
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await connect(self._url, autocommit=True)
                await refresh_rollups(self._conn, self._types[type_name], start, end)
                self.refreshes += 1
            except StorageError as error:
                logger.warning("refreshing %s rollups failed (%s); retrying", type_name, error)
                self._touched.keep(type_name, start, end)
                if not error.retryable or error.sqlstate is None:  # the connection may be gone
                    if self._conn is not None:
                        await self._conn.close()
                    self._conn = None
