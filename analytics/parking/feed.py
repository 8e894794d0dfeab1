"""Feeding :class:`~analytics.parking.live.LiveBays` from the change feed: the thin adapter that
reads a committed batch's bay reports, shared by the alert service and the API's live board."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from analytics.parking.live import BayChange, LiveBays
from analytics.parking.state import Reading
from devices.types import PARKING_BAY
from storage.connection import Conn
from storage.feed import Change
from storage.readings import ReadingRow, Selection, readings

HISTORY = timedelta(hours=24)
"""How far back a bay's reports are replayed when a late one arrives."""
AHEAD = timedelta(minutes=10)
"""Device clocks a little ahead of ours still count (ingest refuses more than 5 minutes)."""


def bay_series(rows: Iterable[ReadingRow]) -> dict[str, list[Reading]]:
    """Each bay's occupied/free reports, in the order given."""
    out: dict[str, list[Reading]] = {}
    for row in rows:
        occupied = row.values.get("occupied")
        if isinstance(occupied, bool):
            out.setdefault(row.device_id, []).append(Reading(row.ts.timestamp(), occupied))
    return out


async def observe_change(
    conn: Conn, live: LiveBays, change: Change, now: datetime
) -> list[BayChange]:
    """Apply the bay reports ``change`` names to ``live``; the state changes that follow. A report
    older than its bay's history replays that bay's last :data:`HISTORY` from the table."""
    rows = await readings(
        conn,
        PARKING_BAY,
        start=change.first_ts,
        end=change.last_ts + timedelta(microseconds=1),
        selection=Selection(device_ids=list(change.device_ids)),
        fields=["occupied"],
        limit=10_000_000,
    )
    moved: list[BayChange] = []
    for device, series in bay_series(rows).items():
        update = live.observe(device, series, now=now.timestamp())
        if update.too_late:
            history = await readings(
                conn,
                PARKING_BAY,
                start=now - HISTORY,
                end=now + AHEAD,
                selection=Selection(device_ids=[device]),
                fields=["occupied"],
            )
            update = live.rebuild(device, bay_series(history).get(device, []), now=now.timestamp())
        moved.extend(update.changes)
    return moved
