"""A zone's Daily Air Quality Index, day by day: the open data series of past air quality.

Each monitor's readings are quality-controlled against the zone's other monitors of its site
type (as the alerts do), then indexed per local day (``analytics.air_quality.daily_daqi``); the
zone's index of a day is its monitors' highest, as for the current index. A day without enough
readings at any monitor has no index (``None``), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from analytics.air_quality import (
    DailyDaqi,
    Monitor,
    clean_monitor,
    daily_daqi,
    daqi_band,
    utc_datetime64,
)
from analytics.air_quality.pollutants import POLLUTANTS
from devices.types import AIR_QUALITY
from storage.connection import Conn
from storage.readings import Selection, readings
from storage.registry import list_devices

MAX_DAYS = 31
"""Days one call covers: a month of 5-minute readings of a zone's monitors."""


@dataclass(frozen=True, slots=True)
class ZoneDay:
    zone_id: str
    day: date
    index: int | None
    band: str | None
    pollutant: str | None
    """The pollutant setting the index."""
    monitor_id: str | None
    """The monitor setting it."""
    monitors: int
    """Monitors with an index that day."""


def zone_days(zone_id: str, dailies: Sequence[DailyDaqi], first: date, last: date) -> list[ZoneDay]:
    """The zone's index for each day of ``[first, last]`` from its monitors' daily indices. Pure."""
    out = []
    for k in range((last - first).days + 1):
        day = first + timedelta(days=k)
        key = np.datetime64(day, "D")
        best: tuple[int, str, str] | None = None
        monitors = 0
        for d in dailies:
            at = np.nonzero(d.day == key)[0]
            if not at.size or int(d.index[at[0]]) == 0:
                continue
            monitors += 1
            index = int(d.index[at[0]])
            if best is None or index > best[0]:
                best = (index, str(d.pollutant[at[0]]), d.monitor_id)
        if best is None:
            out.append(ZoneDay(zone_id, day, None, None, None, None, 0))
        else:
            band = daqi_band(best[0]).value
            out.append(ZoneDay(zone_id, day, best[0], band, best[1], best[2], monitors))
    return out


async def zone_daqi_history(
    conn: Conn,
    zone_id: str,
    *,
    first: date,
    last: date,
    site_types: Mapping[str, str] | None = None,
) -> list[ZoneDay]:
    """The zone's DAQI for each local day of ``[first, last]`` (at most :data:`MAX_DAYS`)."""
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at a time")
    if site_types is None:
        site_types = {
            d.device_id: str(d.attributes.get("site_type", "urban_background"))
            for d in await list_devices(conn, device_type=AIR_QUALITY.name)
        }
    # From the day before (running 8-hour means reach back) to the day after (local days
    # end up to an hour after UTC midnight).
    start = datetime.combine(first - timedelta(days=1), time(), UTC)
    end = datetime.combine(last + timedelta(days=2), time(), UTC)
    rows = await readings(
        conn,
        AIR_QUALITY,
        start=start,
        end=end,
        selection=Selection(zone=zone_id),
        fields=list(POLLUTANTS),
        limit=2_000_000,
    )
    series: dict[str, list[tuple[datetime, list[float]]]] = {}
    for row in rows:
        values = [_float(row.values.get(p)) for p in POLLUTANTS]
        series.setdefault(row.device_id, []).append((row.ts, values))
    monitors = [
        Monitor(
            device,
            utc_datetime64([ts for ts, _ in points]),
            {p: np.array([v[i] for _, v in points], dtype=float) for i, p in enumerate(POLLUTANTS)},
            interval_s=AIR_QUALITY.expected_interval_s,
            site_type=site_types.get(device, "urban_background"),
            zones=(zone_id,),
        )
        for device, points in series.items()
    ]
    dailies = [daily_daqi(clean_monitor(m, neighbours=monitors)[0]) for m in monitors]
    return zone_days(zone_id, dailies, first, last)


def _float(value: float | bool | None) -> float:
    return float("nan") if value is None else float(value)
