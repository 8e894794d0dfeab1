"""Which type each device is: an in-memory map of the registry, refreshed on demand."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from devices.contract import parse_topic
from devices.model import DeviceType
from storage.connection import Conn
from storage.registry import device_types


class DeviceCache:
    """Looks devices up in memory; unknown ids are fetched in one query per batch.

    Ids not found are remembered for ``negative_ttl`` seconds so that a device that is not
    registered costs one query per interval, not one per message.
    """

    def __init__(self, types: Mapping[str, DeviceType], negative_ttl: float = 30.0) -> None:
        self._types = types
        self._known: dict[str, DeviceType] = {}
        self._missing: dict[str, float] = {}
        self._negative_ttl = negative_ttl

    def lookup(self, device_id: str) -> DeviceType | None:
        return self._known.get(device_id)

    def __len__(self) -> int:
        return len(self._known)

    async def load_all(self, conn: Conn) -> None:
        self._remember(await device_types(conn))

    async def resolve(self, conn: Conn, topics: Iterable[str]) -> None:
        """Fetch the devices of ``topics`` that are not cached yet."""
        now = time.monotonic()
        wanted: set[str] = set()
        for topic in topics:
            parsed = parse_topic(topic)
            if parsed is None:
                continue
            device_id = parsed[0]
            if device_id in self._known:
                continue
            seen_missing = self._missing.get(device_id)
            if seen_missing is None or now - seen_missing > self._negative_ttl:
                wanted.add(device_id)
        if not wanted:
            return
        rows = await device_types(conn, sorted(wanted))
        self._remember(rows)
        for device_id in wanted - {r[0] for r in rows}:
            self._missing[device_id] = now

    def _remember(self, rows: Iterable[tuple[str, str]]) -> None:
        for device_id, type_name in rows:
            device_type = self._types.get(type_name)
            if device_type is not None:
                self._known[device_id] = device_type
                self._missing.pop(device_id, None)
