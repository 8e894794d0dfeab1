"""The read side on a real database, in both storage modes: by device, by zone, latest state,
pages, numpy columns, and meter data only through the households' consent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
import pytest

from devices.model import Reading
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Conn, Mode, connect, server_info
from storage.migrate import migrate
from storage.readings import (
    Selection,
    latest,
    readings,
    rollup_columns,
    rollups,
    zone_rollups,
)
from storage.registry import upsert, upsert_zones
from storage.rollups import refresh_rollups
from storage.writer import Store
from tests.conftest import STORAGE_MODES, database_in_mode

T = TypeVar("T")
AQ, METER = DEVICE_TYPES["air_quality"], DEVICE_TYPES["smart_meter"]
# Whole hours, two days back: every bucket is complete in both modes.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


@pytest.fixture(params=STORAGE_MODES)
def city(request: pytest.FixtureRequest, pg_server: str) -> Iterator[str]:
    """A migrated database with three monitors (two in zone z-1) and three meters."""
    yield from database_in_mode(request.param, pg_server, _load)


async def _load(url: str, timescaledb: str) -> None:
    await migrate(url, timescaledb=timescaledb)  # type: ignore[arg-type]
    square = {
        "type": "Polygon",
        "coordinates": [[[-0.2, 51.5], [-0.1, 51.5], [-0.1, 51.6], [-0.2, 51.6], [-0.2, 51.5]]],
    }
    devices = [
        Device("aq-a", "air_quality", latitude=51.55, longitude=-0.15),
        Device("aq-b", "air_quality", latitude=51.56, longitude=-0.14),
        Device("aq-c", "air_quality", latitude=51.40, longitude=-0.30),
        Device("m-half", "smart_meter", consent="half_hourly"),
        Device("m-day", "smart_meter", consent="daily"),
        Device("m-month", "smart_meter", consent="monthly"),
    ]
    rows: list[Reading] = []
    for hour in range(6):
        ts = T0 + timedelta(hours=hour)
        for i, device_id in enumerate(("aq-a", "aq-b", "aq-c")):
            for minute in (0, 30):
                no2 = 10.0 * (i + 1) + hour + minute / 30
                rows.append(
                    Reading(
                        device_id, "air_quality", ts + timedelta(minutes=minute), hour, {"no2": no2}
                    )
                )
        for device_id in ("m-half", "m-day", "m-month"):
            rows.append(
                Reading(
                    device_id, "smart_meter", ts, hour, {"electricity_import_kwh": 100.0 + hour}
                )
            )
    async with await connect(url) as conn:
        await upsert_zones(conn, [Zone("z-1", "ward", "Zone one", square)])
        await upsert(conn, [validate(d, DEVICE_TYPES) for d in devices])
        mode = (await server_info(conn)).mode
    assert mode is not None
    prepared = Prepared()
    for r in rows:
        prepared.rows.setdefault(r.device_type, []).append(
            (
                r.device_id,
                r.ts,
                r.seq,
                r.ts,
                *[r.values.get(c) for c in DEVICE_TYPES[r.device_type].columns],
            )
        )
    store = await Store.open(url, mode, DEVICE_TYPES)
    try:
        await store.write(prepared)
    finally:
        await store.close()
    if mode is Mode.TIMESCALEDB:
        async with await connect(url, autocommit=True) as conn:
            for device_type in (AQ, METER):
                await refresh_rollups(conn, device_type, T0, T0 + timedelta(hours=6))


def _run(url: str, query: Callable[[Conn], Awaitable[T]]) -> T:
    async def go() -> T:
        async with await connect(url) as conn:
            return await query(conn)

    return asyncio.run(go())


def test_readings_by_device_and_zone_in_pages(city: str) -> None:
    end = T0 + timedelta(hours=6)
    everything = _run(city, lambda c: readings(c, AQ, start=T0, end=end, fields=["no2"]))
    assert len(everything) == 36
    zone = _run(city, lambda c: readings(c, AQ, start=T0, end=end, selection=Selection(zone="z-1")))
    assert {r.device_id for r in zone} == {"aq-a", "aq-b"}
    first = _run(city, lambda c: readings(c, AQ, start=T0, end=end, limit=5))
    rest = _run(
        city,
        lambda c: readings(c, AQ, start=T0, end=end, after=(first[-1].device_id, first[-1].ts)),
    )
    assert [(r.device_id, r.ts) for r in first + rest] == [(r.device_id, r.ts) for r in everything]
    assert first[0].values["no2"] == 10.0 and first[0].seq == 0


def test_latest_is_each_devices_newest_reading(city: str) -> None:
    rows = _run(city, lambda c: latest(c, AQ, selection=Selection(device_ids=["aq-a", "aq-c"])))
    assert [(r.device_id, r.ts, r.values["no2"]) for r in rows] == [
        ("aq-a", T0 + timedelta(hours=5, minutes=30), 16.0),
        ("aq-c", T0 + timedelta(hours=5, minutes=30), 36.0),
    ]


def test_rollups_and_zone_rollups(city: str) -> None:
    end = T0 + timedelta(hours=6)
    hourly = _run(
        city, lambda c: rollups(c, AQ, "hourly", start=T0, end=end, selection=Selection(["aq-b"]))
    )
    assert [(r.bucket, r.samples, r.stats["no2"].n, r.stats["no2"].avg) for r in hourly[:2]] == [
        (T0, 2, 2, 20.5),
        (T0 + timedelta(hours=1), 2, 2, 21.5),
    ]
    zone = _run(
        city, lambda c: zone_rollups(c, AQ, "hourly", zone="z-1", start=T0, end=end, fields=["no2"])
    )
    assert len(zone) == 6
    first = zone[0]
    # aq-a: 10, 11; aq-b: 20, 21 -> every reading of the zone counts once.
    assert (first.devices, first.samples, first.stats["no2"].sum, first.stats["no2"].avg) == (
        2,
        4,
        62.0,
        15.5,
    )
    assert (first.stats["no2"].min, first.stats["no2"].max) == (10.0, 21.0)


def test_rollup_columns_for_fleet_analytics(city: str) -> None:
    columns = _run(
        city,
        lambda c: rollup_columns(
            c, AQ, "hourly", start=T0, end=T0 + timedelta(hours=6), columns=["no2_avg", "no2_n"]
        ),
    )
    assert len(columns) == 18
    assert list(columns.device_id[:7]) == ["aq-a"] * 6 + ["aq-b"]
    assert columns.bucket[0] == np.datetime64(T0.replace(tzinfo=None), "us")
    np.testing.assert_allclose(columns.values["no2_avg"][:3], [10.5, 11.5, 12.5])
    assert columns.values["no2_n"].sum() == 36
    with pytest.raises(ValueError, match="not a rollup column"):
        _run(city, lambda c: rollup_columns(c, AQ, "hourly", start=T0, end=T0, columns=["x_avg"]))


def test_meter_data_only_as_each_household_consented(city: str) -> None:
    end = T0 + timedelta(hours=6)
    raw = _run(city, lambda c: readings(c, METER, start=T0, end=end))
    assert {r.device_id for r in raw} == {"m-half"}
    hourly = _run(city, lambda c: rollups(c, METER, "hourly", start=T0, end=end))
    assert {r.device_id for r in hourly} == {"m-half"}
    daily = _run(
        city,
        lambda c: rollups(
            c, METER, "daily", start=T0 - timedelta(days=1), end=end + timedelta(days=1)
        ),
    )
    assert {r.device_id for r in daily} == {"m-half", "m-day"}
    month = T0.replace(day=1, hour=0)
    monthly = _run(
        city,
        lambda c: rollups(
            c, METER, "monthly", start=month - timedelta(days=31), end=end + timedelta(days=31)
        ),
    )
    assert {r.device_id for r in monthly} == {"m-half", "m-day", "m-month"}
    assert all(r.stats["electricity_import_kwh"].max == 105.0 for r in monthly)
