"""A zone's parking history and next-hour forecast, from its bays' stored readings.

The analytics compute (:func:`analytics.parking.bay_timeline` for each bay's statuses with
hindsight, :func:`analytics.parking.occupancy_slots` for bay-seconds per hour,
:func:`analytics.parking.fit_profiles` for the weekly profile and its persistence); this module
reads what they need and hands it over. Both are costly (a day, or four weeks, of a zone's
readings), so the routes keep results briefly (:class:`api.computed.cache.Memo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from analytics.parking import (
    ALL,
    BayInfo,
    Fleet,
    Profile,
    SlotOccupancy,
    StateConfig,
    Timeline,
    bay_timeline,
    fit_profiles,
    occupancy_slots,
)
from devices.types import PARKING_BAY
from storage.connection import Conn
from storage.readings import Selection, readings

TRAINING = timedelta(days=28)
"""Four weeks of history for a zone's weekly profile (the forecast's docstring: three or four
weeks give few samples per slot, which the profile's smoothing allows for)."""
HORIZON_S = 3600.0


async def zone_fleet(conn: Conn, bays: Sequence[BayInfo], start: datetime, end: datetime) -> Fleet:
    """The bays' timelines over ``[start, end)``, from the readings since one unknown-timeout
    before ``start`` (the last uplink before the window decides the status at its start)."""
    if not bays:
        return Fleet.of([], {})
    lookback = timedelta(seconds=StateConfig().timeout_s)
    rows = await readings(
        conn,
        PARKING_BAY,
        start=start - lookback,
        end=end,
        selection=Selection(device_ids=[b.device_id for b in bays]),
        fields=["occupied"],
        limit=100_000_000,
    )
    series: dict[str, tuple[list[float], list[bool]]] = {}
    for row in rows:
        occupied = row.values.get("occupied")
        if isinstance(occupied, bool):
            ts, values = series.setdefault(row.device_id, ([], []))
            ts.append(row.ts.timestamp())
            values.append(occupied)
    until = end.timestamp()
    timelines: dict[str, Timeline] = {
        device: bay_timeline(np.array(ts), np.array(values), until=until)
        for device, (ts, values) in series.items()
    }
    return Fleet.of(bays, timelines)


async def hourly_occupancy(
    conn: Conn, bays: Sequence[BayInfo], start: datetime, end: datetime
) -> SlotOccupancy | None:
    """Occupied and observed bay-seconds per hour of ``[start, end)`` (whole hours)."""
    if not bays:
        return None
    fleet = await zone_fleet(conn, bays, start, end)
    slots = occupancy_slots(fleet, start.timestamp(), end.timestamp(), by="all", slot_s=3600.0)
    return slots.get(ALL)


async def weekly_profile(conn: Conn, bays: Sequence[BayInfo], now: datetime) -> Profile | None:
    """The zone's weekly occupancy profile and persistence over the last four weeks."""
    if not bays:
        return None
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - TRAINING
    fleet = await zone_fleet(conn, bays, start, end)
    profiles = fit_profiles(
        fleet, start.timestamp(), end.timestamp(), by="all", horizon_s=HORIZON_S
    )
    return profiles.get(ALL)
