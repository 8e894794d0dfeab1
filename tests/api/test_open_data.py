"""``/v1/open-data``: a DCAT catalogue under the Open Government Licence, and four datasets as JSON
and CSV without a key, with exactly the values the stored readings imply; household energy per
ward and month with k-anonymity suppression."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api import create_app
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.migrate import migrate
from storage.registry import upsert, upsert_zones
from storage.writer import Store
from tests.api.city import HOURS, T0, City, square
from tests.api.conftest import config, serving
from tests.api.energy_city import EnergyCity, energy_database
from tests.conftest import create_database, drop_database

OGL = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"


async def test_the_catalogue_describes_every_dataset(
    api_client: httpx.AsyncClient, city: City
) -> None:
    answer = await api_client.get("/v1/open-data")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/ld+json"
    assert answer.headers["cache-control"] == "public, max-age=60"
    body = answer.json()
    assert body["@type"] == "dcat:Catalog" and body["license"] == OGL
    assert body["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert body["publisher"] == {"@type": "foaf:Agent", "name": "The council"}
    datasets = {d["identifier"]: d for d in body["datasets"]}
    assert list(datasets) == [
        "air-quality-hourly",
        "zone-daqi",
        "parking-occupancy",
        "energy-monthly",
    ]
    aq = datasets["air-quality-hourly"]
    assert aq["@id"] == "http://testserver/v1/open-data/air-quality-hourly"
    assert aq["license"] == OGL and aq["temporal_resolution"] == "PT1H"
    last = T0 + timedelta(hours=HOURS - 1)
    assert aq["temporal"] == {"start": T0.date().isoformat(), "end": last.date().isoformat()}
    # Zones of the test city: two wards side by side and a parking zone inside ward A.
    assert aq["spatial"] == {"bbox": [-0.16, 51.53, -0.1, 51.55], "zones": 3}
    assert datasets["parking-occupancy"]["spatial"]["zones"] == 2
    assert datasets["energy-monthly"]["spatial"]["zones"] == 2
    assert [(d["media_type"], d["download_url"]) for d in aq["distributions"]] == [
        ("text/csv", "http://testserver/v1/open-data/air-quality-hourly?format=csv"),
        ("application/json", "http://testserver/v1/open-data/air-quality-hourly?format=json"),
    ]
    assert {c["name"]: c["unit"] for c in aq["columns"]}["no2"] == "µg/m³"
    as_json = await api_client.get("/v1/open-data", headers={"Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json"


async def test_the_catalogue_page(api_client: httpx.AsyncClient) -> None:
    answer = await api_client.get(
        "/v1/open-data", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "Open Government Licence v3.0" in answer.text
    assert 'href="http://testserver/v1/open-data/zone-daqi?format=csv"' in answer.text
    assert "<script" not in answer.text
    same = await api_client.get("/v1/open-data?format=html")
    assert same.text == answer.text


async def test_air_quality_hourly_means(api_client: httpx.AsyncClient) -> None:
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=HOURS)).isoformat()}
    body = (await api_client.get("/v1/open-data/air-quality-hourly", params=window)).json()
    assert body["license"] == OGL and body["links"]["next"] is None
    items = body["items"]
    assert len(items) == 3 * HOURS  # three monitors, one row an hour
    # The city's monitor i reads NO2 = 20 + i + hour % 5, once an hour.
    for row in items:
        hour = int((datetime.fromisoformat(row["hour"]) - T0).total_seconds() // 3600)
        i = int(row["monitor_id"].removeprefix("aq-")) - 1
        assert row == {
            "monitor_id": row["monitor_id"],
            "hour": row["hour"],
            "readings": 1,
            "pm25": None,
            "pm10": None,
            "no2": 20.0 + i + hour % 5,
            "o3": None,
            "so2": None,
        }
    one = await api_client.get(
        "/v1/open-data/air-quality-hourly", params={**window, "monitor": "aq-2", "format": "csv"}
    )
    lines = one.text.splitlines()
    assert lines[0] == "monitor_id,hour,readings,pm25,pm10,no2,o3,so2"
    assert lines[1] == f"aq-2,{T0.isoformat()},1,,,21.0,,"
    assert len(lines) == 1 + HOURS


async def test_hourly_datasets_page_by_the_week(api_client: httpx.AsyncClient) -> None:
    start = T0 - timedelta(days=20)
    first = (
        await api_client.get(
            "/v1/open-data/air-quality-hourly",
            params={"start": start.isoformat(), "end": (T0 + timedelta(days=2)).isoformat()},
        )
    ).json()
    assert first["end"] == (start + timedelta(days=7)).isoformat() and first["items"] == []
    pages = 1
    url = first["links"]["next"]
    rows = 0
    while url:
        page = (await api_client.get(url)).json()
        rows += len(page["items"])
        url = page["links"]["next"]
        pages += 1
    assert (pages, rows) == (4, 3 * HOURS)


async def test_parking_occupancy(api_client: httpx.AsyncClient) -> None:
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=HOURS)).isoformat()}
    body = (
        await api_client.get("/v1/open-data/parking-occupancy", params={**window, "zone": "pz-a1"})
    ).json()
    # bay-1 reads occupied in even hours; bay-2 never reported.
    assert [(r["hour"], r["bays"], r["reports"], r["occupied_share"]) for r in body["items"]] == [
        ((T0 + timedelta(hours=h)).isoformat(), 1, 1, 1.0 if h % 2 == 0 else 0.0)
        for h in range(HOURS)
    ]
    everywhere = (await api_client.get("/v1/open-data/parking-occupancy", params=window)).json()
    assert {r["zone_id"] for r in everywhere["items"]} == {"pz-a1", "ward-a"}


@pytest.fixture(scope="module")
def street(pg_server: str) -> Iterator[EnergyCity]:
    yield from energy_database(pg_server)


async def test_energy_per_ward_and_month_is_k_anonymous(street: EnergyCity) -> None:
    days = street.period.days
    month = street.period.start.isoformat()
    async with serving(create_app(config(street.url))) as client:
        answer = await client.get("/v1/open-data/energy-monthly")
        csv = await client.get("/v1/open-data/energy-monthly?format=csv")
    body = answer.json()
    assert body["end"] == datetime.now(UTC).date().replace(day=1).isoformat()
    withheld = {"households": None, "total": None, "mean": None}
    assert body["items"] == [
        {"month": month, "zone_id": "ward-a", "measure": "electricity_kwh", "households": 11,
         "total": pytest.approx(110.0 * days), "mean": pytest.approx(10.0 * days),
         "withheld": None},
        {"month": month, "zone_id": "ward-b", "measure": "electricity_kwh", **withheld,
         "withheld": "few_contributors"},
        {"month": month, "zone_id": "ward-c", "measure": "electricity_kwh", "households": 11,
         "total": pytest.approx(264.0 * days), "mean": pytest.approx(24.0 * days),
         "withheld": None},
        # The month over every ward less wards A and C would be ward B's three homes.
        {"month": month, "zone_id": None, "measure": "electricity_kwh", **withheld,
         "withheld": "complementary"},
    ]  # fmt: skip
    assert csv.text.splitlines() == [
        "month,zone_id,measure,households,total,mean,withheld",
        f"{month},ward-a,electricity_kwh,11,{110.0 * days},{10.0 * days},",
        f"{month},ward-b,electricity_kwh,,,,few_contributors",
        f"{month},ward-c,electricity_kwh,11,{264.0 * days},{24.0 * days},",
        f"{month},,electricity_kwh,,,,complementary",
    ]


def _monitor_readings(start: datetime, end: datetime) -> Prepared:
    kind = DEVICE_TYPES["air_quality"]
    prepared = Prepared()
    rows = prepared.rows.setdefault("air_quality", [])
    ts, k = start, 0
    while ts < end:
        values = {"pm25": 40.0 + (k % 3 - 1) * 0.1}  # 39.9, 40.0, 40.1: never stuck
        rows.append(("aq-daqi", ts, k, ts, *[values.get(c) for c in kind.columns]))
        ts += timedelta(minutes=5)
        k += 1
    return prepared


async def _daqi_city(url: str) -> None:
    async with await connect(url, autocommit=True) as conn:
        await upsert(
            conn, [validate(Device("aq-daqi", "air_quality", "Kerb", 51.535, -0.155), DEVICE_TYPES)]
        )
        await upsert_zones(conn, [Zone("ward-a", "ward", "Ward A", square(-0.16, 51.53))])
    # Two full London days in summer time (UTC+1): 9 June 23:00 UTC to 11 June 23:00 UTC.
    store = await Store.open(url, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await store.write(
            _monitor_readings(
                datetime(2026, 6, 9, 23, tzinfo=UTC), datetime(2026, 6, 11, 23, tzinfo=UTC)
            )
        )
    finally:
        await store.close()


async def test_zone_daqi_day_by_day(pg_server: str) -> None:
    url = create_database(pg_server)
    try:
        await migrate(url, timescaledb="off")
        await _daqi_city(url)
        async with serving(create_app(config(url))) as client:
            params = {"start": "2026-06-10", "end": "2026-06-13"}
            body = (await client.get("/v1/open-data/zone-daqi", params=params)).json()
            csv = await client.get("/v1/open-data/zone-daqi", params={**params, "format": "csv"})
    finally:
        await asyncio.to_thread(drop_database, pg_server, url)
    # A daily PM2.5 mean of 40 µg/m³ is index 4 (36-41), Moderate.
    day = {"zone_id": "ward-a", "index": 4, "band": "Moderate", "pollutant": "pm25",
           "monitor_id": "aq-daqi", "monitors": 1}  # fmt: skip
    assert body["items"] == [
        {**day, "day": "2026-06-10"},
        {**day, "day": "2026-06-11"},
        {"zone_id": "ward-a", "day": "2026-06-12", "index": None, "band": None,
         "pollutant": None, "monitor_id": None, "monitors": 0},
    ]  # fmt: skip
    assert csv.text.splitlines()[1:] == [
        "ward-a,2026-06-10,4,Moderate,pm25,aq-daqi,1",
        "ward-a,2026-06-11,4,Moderate,pm25,aq-daqi,1",
        "ward-a,2026-06-12,,,,,0",
    ]


async def test_datasets_refuse_what_they_cannot_serve(api_client: httpx.AsyncClient) -> None:
    backwards = await api_client.get(
        "/v1/open-data/zone-daqi", params={"start": "2026-06-10", "end": "2026-06-01"}
    )
    assert backwards.status_code == 400
    decade = await api_client.get(
        "/v1/open-data/energy-monthly", params={"start": "2001-01-01", "end": "2020-01-01"}
    )
    assert decade.status_code == 400 and "ten years" in decade.json()["detail"]
    forged = await api_client.get("/v1/open-data/zone-daqi", params={"cursor": "WzEsIngiXQ"})
    assert forged.status_code == 400
    assert forged.json()["type"] == "/v1/problems/invalid-cursor"
