"""Keeping TimescaleDB's rollups exact when readings arrive late.

A continuous aggregate is materialised up to a watermark; past it, a real-time aggregate computes
from the raw rows. Rows that arrive later for an hour already materialised (a device sending its
backlog after an outage, a message delayed across the hour) are invisible in the aggregate until
the refresh policy runs again, up to its schedule later. So after each commit, ingest notes the
hours it wrote before the current one (:class:`TouchedBuckets`, pure) and refreshes them
(:func:`refresh_rollups`): late data reaches the rollups within seconds. Plain PostgreSQL needs
none of this; its rollups are maintained in the write transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from devices.model import DeviceType
from storage.connection import Conn
from storage.errors import storage_operation

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _floor(ts: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (ts - epoch) // step * step


@dataclass(slots=True)
class TouchedBuckets:
    """The span of past hours written per device type, since the last refresh."""

    spans: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)

    def note(self, type_name: str, timestamps: list[datetime], now: datetime) -> None:
        """Record ``timestamps`` that fall before the current hour (later ones are not yet
        materialised: the real-time part of the aggregate already shows them)."""
        current = _floor(now, HOUR)
        past = [ts for ts in timestamps if ts < current]
        if not past:
            return
        self.keep(type_name, _floor(min(past), HOUR), _floor(max(past), HOUR) + HOUR)

    def keep(self, type_name: str, low: datetime, high: datetime) -> None:
        """Add the span ``[low, high)`` (e.g. one whose refresh failed, to try again)."""
        found = self.spans.get(type_name)
        if found is not None:
            low, high = min(low, found[0]), max(high, found[1])
        self.spans[type_name] = (low, high)

    def take(self) -> dict[str, tuple[datetime, datetime]]:
        spans, self.spans = self.spans, {}
        return spans


REFRESH_ATTEMPTS = 6


@storage_operation("refresh rollups")
async def refresh_rollups(
    conn: Conn, device_type: DeviceType, start: datetime, end: datetime
) -> None:
    """Re-materialise ``device_type``'s hourly, then daily aggregates over ``[start, end)``.

    ``conn`` must be in autocommit mode (TimescaleDB refreshes outside transactions).
    TimescaleDB refuses a refresh while another one (a policy run) holds the aggregate; that is
    retried a few times, briefly, before it is reported.
    """
    p = device_type.prefix
    hours = (_floor(start, HOUR), _floor(end - timedelta(microseconds=1), HOUR) + HOUR)
    await _refresh(conn, f"{p}_hourly", *hours)
    day_start, day_end = _floor(start, DAY), _floor(end - timedelta(microseconds=1), DAY) + DAY
    # Only whole days can be materialised; today's bucket stays real-time until it ends.
    day_end = min(day_end, _floor(datetime.now(UTC), DAY))
    if day_end > day_start:
        await _refresh(conn, f"{p}_daily", day_start, day_end)


async def _refresh(conn: Conn, view: str, start: datetime, end: datetime) -> None:
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            await conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (view, start, end))
            return
        except psycopg.errors.LockNotAvailable:
            if attempt == REFRESH_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)  # 0.1 s doubling: 3 s in all
