"""Air quality on stored readings: the current DAQI per monitor and zone with Defra's health
advice (a stuck sensor left out by quality control), monitors near a point, a monitor's daily
index and its year against the UK limits and WHO 2021 guidelines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from analytics.air_quality.daqi_levels import ADVICE, Band
from api import create_app
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.migrate import migrate
from storage.registry import upsert, upsert_zones
from storage.writer import Store
from tests.api.conftest import config, serving
from tests.conftest import create_database, drop_database

WARD = {
    "type": "Polygon",
    "coordinates": [
        [[-0.15, 51.54], [-0.14, 51.54], [-0.14, 51.55], [-0.15, 51.55], [-0.15, 51.54]]
    ],
}
HOURS = 49


@dataclass(frozen=True, slots=True)
class Monitors:
    url: str
    hour: datetime
    """Readings every five minutes for the 49 whole hours before this one."""


async def _build(url: str) -> Monitors:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    monitors = [
        ("aq-high", -0.145, "Roadside high"),
        ("aq-low", -0.144, "Roadside low"),
        ("aq-stuck", -0.143, "Roadside stuck"),
    ]
    async with await connect(url, autocommit=True) as conn:
        await upsert_zones(conn, [Zone("ward-q", "ward", "Ward Q", WARD)])
        await upsert(
            conn,
            [
                validate(
                    Device(
                        d,
                        "air_quality",
                        name,
                        latitude=51.545,
                        longitude=lon,
                        attributes={"site_type": "roadside"},
                    ),
                    DEVICE_TYPES,
                )
                for d, lon, name in monitors
            ],
        )
    columns = DEVICE_TYPES["air_quality"].columns
    prepared = Prepared()
    rows = prepared.rows.setdefault("air_quality", [])
    start = hour - timedelta(hours=HOURS)
    for i in range(HOURS * 12):
        ts = start + timedelta(minutes=5 * i)
        wobble = 1.0 if i % 2 else -1.0  # hourly means exact; never the same value twice in a row
        values = {
            "aq-high": {"no2": 250.0 + wobble, "pm25": 20.0 + wobble},  # NO2 index 4, PM2.5 2
            "aq-low": {"no2": 100.0 + wobble},  # index 2
            "aq-stuck": {"no2": 700.0},  # would be 10, but the sensor is stuck
        }
        for device, measured in values.items():
            rows.append((device, ts, i, ts, *[measured.get(c) for c in columns]))
    store = await Store.open(url, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await store.write(prepared)
    finally:
        await store.close()
    return Monitors(url, hour)


@pytest.fixture(scope="module")
def monitors(pg_server: str) -> Iterator[Monitors]:
    url = create_database(pg_server)
    try:
        asyncio.run(migrate(url, timescaledb="off"))
        yield asyncio.run(_build(url))
    finally:
        drop_database(pg_server, url)


@pytest.fixture
async def client(monitors: Monitors) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(config(monitors.url))) as api:
        yield api


def _hour_now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def test_current_daqi_per_monitor_with_health_advice(
    client: httpx.AsyncClient, monitors: Monitors
) -> None:
    if _hour_now() != monitors.hour:
        pytest.skip("the hour turned since the readings were written")  # a new hour has no data
    response = await client.get("/v1/air-quality/monitors/aq-high")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    props = response.json()["properties"]
    assert (props["index"], props["band"], props["colour"]) == (4, "Moderate", "#FFFF00")
    assert props["pollutants"] == ["no2"]
    moderate = ADVICE[Band.MODERATE]
    assert props["health"] == {"general": moderate.general, "at_risk": moderate.at_risk}
    no2 = next(s for s in props["sub_indices"] if s["pollutant"] == "no2")
    assert (no2["index"], no2["concentration"], no2["averaging"]) == (4, 250.0, "hourly mean")
    assert no2["period_end"] == monitors.hour.isoformat()
    assert no2["capture"] == "12 of 12 readings (9 needed)"
    pm25 = next(s for s in props["sub_indices"] if s["pollutant"] == "pm25")
    assert (pm25["index"], pm25["concentration"]) == (2, 20.0)
    o3 = next(s for s in props["sub_indices"] if s["pollutant"] == "o3")
    assert (o3["index"], o3["missing"]) == (None, "insufficient data capture")
    assert props["qc"] == {}
    stuck = (await client.get("/v1/air-quality/monitors/aq-stuck")).json()["properties"]
    # Quality control leaves a stuck sensor out: no index, rather than "very high".
    assert (stuck["index"], stuck["qc"]) == (None, {"no2": ["stuck"]})
    assert (await client.get("/v1/air-quality/monitors/no-such")).status_code == 404


async def test_zone_daqi_is_its_highest_monitor(
    client: httpx.AsyncClient, monitors: Monitors
) -> None:
    if _hour_now() != monitors.hour:
        pytest.skip("the hour turned since the readings were written")
    body = (await client.get("/v1/air-quality/zones/ward-q")).json()
    assert (body["index"], body["band"], body["monitor_id"], body["pollutant"]) == (
        4,
        "Moderate",
        "aq-high",
        "no2",
    )
    assert body["reporting"] == 2
    assert body["monitors"] == [
        {"monitor_id": "aq-high", "index": 4, "pollutant": "no2"},
        {"monitor_id": "aq-low", "index": 2, "pollutant": "no2"},
        {"monitor_id": "aq-stuck", "index": None, "pollutant": None},
    ]
    listed = (await client.get("/v1/air-quality/zones?format=csv")).text.splitlines()
    assert listed[0] == "zone_id,name,at,index,band,monitor_id,pollutant,reporting"
    assert listed[1].startswith("ward-q,Ward Q,") and listed[1].endswith(
        ",4,Moderate,aq-high,no2,2"
    )


async def test_monitors_near_a_point(client: httpx.AsyncClient) -> None:
    near = (await client.get("/v1/air-quality/monitors?lon=-0.1431&lat=51.545&radius_m=100")).json()
    assert [f["id"] for f in near["features"]] == ["aq-stuck", "aq-low"]
    assert near["features"][0]["properties"]["distance_m"] == pytest.approx(6.9, abs=0.1)
    half = await client.get("/v1/air-quality/monitors?lon=-0.1431")
    assert half.status_code == 400


async def test_daily_daqi(client: httpx.AsyncClient, monitors: Monitors) -> None:
    london = ZoneInfo("Europe/London")
    yesterday = (monitors.hour.astimezone(london) - timedelta(days=1)).date()
    body = (
        await client.get(
            "/v1/air-quality/monitors/aq-high/daqi",
            params={"start": yesterday.isoformat(), "end": yesterday.isoformat()},
        )
    ).json()
    # The day's highest hourly NO2 mean (250: index 4); PM2.5's daily mean 20 (index 2).
    assert body["items"] == [
        {
            "day": yesterday.isoformat(),
            "index": 4,
            "band": "Moderate",
            "pollutant": "no2",
            "sub_indices": {"no2": 4, "pm25": 2},
        }
    ]
    week = (await client.get("/v1/air-quality/monitors/aq-high/daqi")).json()
    assert len(week["items"]) == 7 and week["links"]["next"] is None
    assert week["items"][0]["index"] is None  # five days before the readings began
    paged = (
        await client.get(
            "/v1/air-quality/monitors/aq-high/daqi",
            params={"start": "2026-01-01", "end": "2026-03-01"},
        )
    ).json()
    assert (paged["start"], paged["end"], len(paged["items"])) == ("2026-01-01", "2026-01-31", 31)
    following = await client.get(paged["links"]["next"])
    assert following.json()["start"] == "2026-02-01"


async def test_year_against_uk_limits_and_who_guidelines(
    client: httpx.AsyncClient, monitors: Monitors
) -> None:
    year = monitors.hour.astimezone(ZoneInfo("Europe/London")).year
    body = (await client.get(f"/v1/air-quality/monitors/aq-high/compliance?year={year}")).json()
    results = {r["key"]: r for r in body["results"]}
    assert set(results) == {
        "uk_no2_annual",
        "uk_no2_1h",
        "who_no2_annual",
        "who_no2_24h",
        "uk_pm25_annual",
        "uk_pm25_2040",
        "who_pm25_annual",
        "who_pm25_24h",
    }
    # 49 hours above 200 µg/m³ where 18 a year are allowed: exceeded, whatever the capture.
    hourly = results["uk_no2_1h"]
    assert (hourly["outcome"], hourly["value"], hourly["exceedances"]) == ("exceeded", 49.0, 49)
    # The annual mean is far above 40, but two days of a year cannot decide it.
    annual = results["uk_no2_annual"]
    assert (annual["outcome"], annual["value"], annual["valid"]) == (
        "insufficient data capture",
        250.0,
        49,
    )
    assert results["who_no2_annual"]["level_ugm3"] == 10.0
    assert (
        await client.get(f"/v1/air-quality/monitors/aq-high/compliance?year={year + 1}")
    ).status_code == 400
