"""The naive baseline for the nudge run: one query and one Python comparison per household.

What a first version would do: for each household, read its year of daily registers with one
query (through the same consent view), work out the month's use and the same month last year in
Python, then compare it with its neighbours in Python: the similar homes (same fuel, type and
floor-area band) within 2 km, the nearest 100 by distance, their mean and 20th percentile. It
gets the households grouped by fuel, type and band once beforehand (a generous start: a first
version would scan them all), and the neighbours' monthly use from the stored run, so it does
less than CivicPulse (no weather fit, no insights, nothing written). It is timed on a sample of
households spread over the list, and extrapolated to all of them.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from bench.nudge_run import PROGRAMME

EARTH_RADIUS_M = 6_371_008.8
GAS_KWH_PER_M3 = 1.02264 * 39.5 / 3.6


@dataclass(frozen=True, slots=True)
class NaiveResult:
    sample: int
    households: int
    seconds: float
    """For the sample."""
    query_seconds: float
    python_seconds: float
    compared: int

    @property
    def per_household(self) -> float:
        return self.seconds / self.sample

    @property
    def extrapolated(self) -> float:
        """Seconds for every household at the sample's pace."""
        return self.per_household * self.households


@dataclass(frozen=True, slots=True)
class _Home:
    household_id: str
    device_id: str
    group: tuple[str, str, str]
    latitude: float
    longitude: float


def run_naive(url: str, month: date, *, sample: int) -> NaiveResult:
    """Time the naive run on ``sample`` households of the month starting ``month``."""
    end = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    first = end - timedelta(days=367)
    with psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC") as conn:
        homes = [
            _Home(str(r[0]), str(r[1]), (str(r[2]), str(r[3]), str(r[4])), float(r[5]), float(r[6]))
            for r in conn.execute(
                "SELECT coalesce(attributes->>'household_id', device_id), device_id,"
                " attributes->>'heating_fuel', attributes->>'property_type',"
                " attributes->>'floor_area_band', latitude, longitude FROM devices"
                " WHERE device_type = 'smart_meter' AND consent IS NOT NULL ORDER BY device_id"
            )
        ]
        stored = {
            str(h): float(u)
            for h, u in conn.execute(
                "SELECT household_id, usage_kwh FROM nudges WHERE programme_id = %s"
                " AND period_start = %s AND usage_kwh IS NOT NULL",
                (PROGRAMME, month),
            )
        }
        groups: dict[tuple[str, str, str], list[_Home]] = defaultdict(list)
        for home in homes:
            groups[home.group].append(home)
        step = max(1, len(homes) // sample)
        chosen = homes[::step][:sample]
        query = python = 0.0
        compared = 0
        began = time.perf_counter()
        for home in chosen:
            t0 = time.perf_counter()
            rows = conn.execute(
                "SELECT bucket, electricity_import_kwh_max, gas_m3_max"
                " FROM smart_meter_daily_permitted WHERE device_id = %s"
                " AND bucket >= %s AND bucket < %s ORDER BY bucket",
                (home.device_id, _midnight(first), _midnight(end)),
            ).fetchall()
            t1 = time.perf_counter()
            usage, _last_year = _usage(rows, month, end)
            if usage is not None and _compare(home, usage, groups[home.group], stored):
                compared += 1
            python += time.perf_counter() - t1
            query += t1 - t0
        seconds = time.perf_counter() - began
    return NaiveResult(len(chosen), len(homes), seconds, query, python, compared)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _usage(
    rows: list[tuple[datetime, float | None, float | None]], month: date, end: date
) -> tuple[float | None, float | None]:
    """The month's use and the same month's a year before (kWh), from end-of-day registers."""
    by_day = {r[0].date(): r for r in rows}
    totals: list[float | None] = []
    for start, stop in (
        (month, end),
        (month.replace(year=month.year - 1), end.replace(year=end.year - 1)),
    ):
        total, missing, day = 0.0, 0, start
        while day < stop:
            today, before = by_day.get(day), by_day.get(day - timedelta(days=1))
            if today is None or before is None or today[1] is None or before[1] is None:
                missing += 1
            else:
                used = today[1] - before[1]
                if today[2] is not None and before[2] is not None:
                    used += (today[2] - before[2]) * GAS_KWH_PER_M3
                if used >= 0:
                    total += used
                else:
                    missing += 1
            day += timedelta(days=1)
        totals.append(total if missing <= 3 else None)
    return totals[0], totals[1]


def _compare(home: _Home, usage: float, group: list[_Home], stored: dict[str, float]) -> str | None:
    """The rating against the neighbours' mean and 20th percentile; ``None``: withheld."""
    cos = math.cos(math.radians(home.latitude))
    near = []
    for other in group:
        if other.household_id == home.household_id or other.household_id not in stored:
            continue
        dy = math.radians(other.latitude - home.latitude) * EARTH_RADIUS_M
        dx = math.radians(other.longitude - home.longitude) * EARTH_RADIUS_M * cos
        distance = math.hypot(dx, dy)
        if distance <= 2000.0:
            near.append((distance, stored[other.household_id]))
    near.sort()
    peers = [u for _, u in near[:100]]
    if len(peers) < 10:
        return None
    peers.sort()
    average = sum(peers) / len(peers)
    efficient = peers[int(0.2 * (len(peers) - 1))]
    if usage <= efficient:
        return "great"
    return "good" if usage <= average else "above_average"
