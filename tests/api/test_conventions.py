"""The API's conventions on the seeded city: GeoJSON, CSV, ETag and 304, cursor pagination,
ISO 8601 times with offsets, units, CORS."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from api import create_app
from tests.api.city import HOURS, T0, City
from tests.api.conftest import bearer, config, serving


async def test_devices_are_geojson(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/v1/devices?type=air_quality")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    aq1 = next(f for f in body["features"] if f["id"] == "aq-1")
    assert aq1 == {
        "type": "Feature",
        "id": "aq-1",
        "geometry": {"type": "Point", "coordinates": [-0.155, 51.535]},
        "properties": {
            "device_type": "air_quality",
            "name": "Roadside A",
            "vendor": None,
            "model": None,
            "firmware_version": None,
            "installed_on": None,
            "zones": ["pz-a1", "ward-a"],
            "attributes": {"site_type": "roadside"},
            "consent": None,
        },
    }
    assert [f["id"] for f in body["features"]] == ["aq-1", "aq-2", "aq-3"]
    weather = (await api_client.get("/v1/devices/wx-1")).json()
    assert weather["geometry"] is None  # a device without a location is still a Feature


async def test_zones_are_geojson_with_counts(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/v1/zones?kind=ward")
    assert response.headers["content-type"] == "application/geo+json"
    features = {f["id"]: f for f in response.json()["features"]}
    assert set(features) == {"ward-a", "ward-b"}
    assert features["ward-a"]["geometry"]["type"] == "Polygon"
    assert features["ward-a"]["properties"] == {"kind": "ward", "name": "Ward A", "devices": 16}
    one = await api_client.get("/v1/zones/pz-a1")
    assert one.json()["properties"]["kind"] == "parking_zone"


async def test_csv_by_parameter_or_accept(api_client: httpx.AsyncClient) -> None:
    by_parameter = await api_client.get("/v1/devices/aq-1/readings?format=csv&limit=5")
    by_accept = await api_client.get(
        "/v1/devices/aq-1/readings?limit=5", headers={"Accept": "text/csv"}
    )
    for response in (by_parameter, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_parameter.text == by_accept.text
    rows = list(csv.reader(io.StringIO(by_parameter.text)))
    assert rows[0][:4] == ["device_id", "ts", "seq", "pm25"]
    assert len(rows) == 6
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["device_id"] == "aq-1"
    assert datetime.fromisoformat(first["ts"]).utcoffset() == timedelta(0)
    # JSON wins when asked for first, and 406 when nothing offered is acceptable.
    json_first = await api_client.get(
        "/v1/devices/aq-1/readings", headers={"Accept": "application/json, text/csv;q=0.5"}
    )
    assert json_first.headers["content-type"] == "application/json"
    refused = await api_client.get("/v1/devices/aq-1/readings", headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"


async def test_csv_cells_cannot_become_formulas(fresh_city: City) -> None:
    from devices.registry import Device, validate
    from devices.types import DEVICE_TYPES
    from storage.connection import connect
    from storage.registry import upsert

    async with await connect(fresh_city.url, autocommit=True) as conn:
        await upsert(conn, [validate(Device("aq-9", "air_quality", "=HYPERLINK(1)"), DEVICE_TYPES)])
    async with serving(create_app(config(fresh_city.url))) as client:
        text = (await client.get("/v1/devices?format=csv&type=air_quality")).text
    assert "'=HYPERLINK(1)" in text


async def test_times_carry_their_offset(api_client: httpx.AsyncClient) -> None:
    start = T0.isoformat()
    body = (
        await api_client.get("/v1/devices/aq-1/readings", params={"start": start, "limit": 2})
    ).json()
    assert body["start"] == T0.isoformat() and body["start"].endswith("+00:00")
    assert body["items"][0]["ts"] == T0.isoformat()
    assert body["units"]["no2"] == "µg/m³"
    assert body["units"]["battery_pct"] == "%"
    # A time with another offset means the same instant.
    shifted = (T0 + timedelta(hours=1)).astimezone().isoformat()
    later = (await api_client.get("/v1/devices/aq-1/readings", params={"start": shifted})).json()
    assert later["items"][0]["ts"] == (T0 + timedelta(hours=1)).isoformat()
    # A time without an offset is refused, not guessed.
    naive = await api_client.get("/v1/devices/aq-1/readings?start=2026-11-25T08:00:00")
    assert naive.status_code == 422


async def test_etag_and_conditional_get(api_client: httpx.AsyncClient, city: City) -> None:
    first = await api_client.get("/v1/zones")
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=60"
    assert "Accept" in first.headers["vary"] and "Authorization" in first.headers["vary"]
    again = await api_client.get("/v1/zones", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    weak = await api_client.get("/v1/zones", headers={"If-None-Match": f'"x", W/{tag}'})
    assert weak.status_code == 304
    changed = await api_client.get("/v1/zones", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == first.content
    # CSV is another representation: another tag.
    as_csv = await api_client.get("/v1/zones?format=csv", headers={"If-None-Match": tag})
    assert as_csv.status_code == 200 and as_csv.headers["etag"] != tag
    # With a key the answer may hold what only that key sees: private.
    keyed = await api_client.get("/v1/zones", headers=bearer(city.keys["developer"]))
    assert keyed.headers["cache-control"] == "private, no-cache"


async def _all_pages(client: httpx.AsyncClient, url: str, key: str) -> list[list[str]]:
    pages: list[list[str]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(
            [
                item[key] if key != "ts" else item["ts"]
                for item in body.get("items", body.get("features", []))
            ]
        )
        next_url = body["links"]["next"]
        if next_url is not None:
            assert response.headers["link"] == f'<{next_url}>; rel="next"'
    return pages


async def test_cursor_pagination_of_readings(api_client: httpx.AsyncClient) -> None:
    start = T0.isoformat().replace("+", "%2B")  # a "+" in a query string is a space
    pages = await _all_pages(
        api_client, f"http://testserver/v1/devices/aq-1/readings?start={start}&limit=7", "ts"
    )
    flat = [ts for page in pages for ts in page]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert flat == [(T0 + timedelta(hours=h)).isoformat() for h in range(HOURS)]
    whole = (await api_client.get(f"/v1/devices/aq-1/readings?start={start}&limit=1000")).json()
    assert whole["links"]["next"] is None
    assert [i["ts"] for i in whole["items"]] == flat


async def test_cursor_pagination_of_devices(api_client: httpx.AsyncClient) -> None:
    pages = await _all_pages(api_client, "http://testserver/v1/devices?limit=2", "id")
    flat = [d for page in pages for d in page]
    assert flat == ["aq-1", "aq-2", "aq-3", "bay-1", "bay-2", "wx-1"]
    url = (await api_client.get("/v1/devices?limit=2")).json()["links"]["next"]
    query = parse_qs(urlsplit(url).query)
    assert query["limit"] == ["2"] and len(query["cursor"]) == 1


async def test_bad_cursors_are_refused(api_client: httpx.AsyncClient) -> None:
    for cursor in ("garbage", "WzJd", "WzEsIjxzY3JpcHQ-Il0", "eyJhIjoxfQ"):
        response = await api_client.get(f"/v1/devices/aq-1/readings?cursor={cursor}")
        assert response.status_code == 400, cursor
        assert response.json()["type"] == "/v1/problems/invalid-cursor"
    # A cursor of another device's readings is not this one's.
    other = (await api_client.get("/v1/devices/aq-2/readings?limit=1")).json()["links"]["next"]
    cursor = parse_qs(urlsplit(other).query)["cursor"][0]
    mixed = await api_client.get(f"/v1/devices/aq-1/readings?cursor={cursor}")
    assert mixed.status_code == 400


async def test_rollups_page_by_time_window(api_client: httpx.AsyncClient) -> None:
    start = (T0 - timedelta(days=40)).isoformat()
    end = (T0 + timedelta(days=1)).isoformat()
    first = (
        await api_client.get(
            "/v1/devices/aq-1/rollups", params={"grain": "hourly", "start": start, "end": end}
        )
    ).json()
    assert first["items"] == []  # a month of hours before any data
    assert first["end"] == (T0 - timedelta(days=9)).isoformat()
    second = (await api_client.get(first["links"]["next"])).json()
    assert second["start"] == first["end"]
    assert second["links"]["next"] is None
    assert len(second["items"]) == 24
    assert second["items"][0]["bucket"] == T0.isoformat()
    no2 = second["items"][0]["stats"]["no2"]
    assert no2 == {"n": 1, "sum": 20.0, "min": 20.0, "max": 20.0, "avg": 20.0}


async def test_monthly_rollups_of_open_types_sum_their_days(api_client: httpx.AsyncClient) -> None:
    month = T0.replace(day=1, hour=0)
    body = (
        await api_client.get(
            "/v1/devices/aq-1/rollups",
            params={"grain": "monthly", "start": (month - timedelta(days=40)).isoformat()},
        )
    ).json()
    buckets = {i["bucket"]: i for i in body["items"]}
    total = sum(i["samples"] for i in buckets.values())
    assert total == HOURS
    assert all(datetime.fromisoformat(b).day == 1 for b in buckets)


async def test_zone_rollups(api_client: httpx.AsyncClient) -> None:
    body = (
        await api_client.get(
            "/v1/zones/ward-a/rollups/air_quality",
            params={
                "grain": "hourly",
                "start": T0.isoformat(),
                "end": (T0 + timedelta(hours=1)).isoformat(),
            },
        )
    ).json()
    assert body["disclosure"] is None
    [bucket] = body["items"]
    assert bucket["devices"] == 2 and bucket["samples"] == 2
    assert bucket["stats"]["no2"]["sum"] == 20.0 + 21.0
    assert bucket["stats"]["no2"]["min"] == 20.0


async def test_household_aggregates_publish_totals_only(
    api_client: httpx.AsyncClient, city: City
) -> None:
    body = (
        await api_client.get(
            "/v1/zones/ward-a/rollups/smart_meter",
            params={"grain": "daily", "start": (T0 - timedelta(days=1)).isoformat()},
            headers=bearer(city.keys["officer"]),
        )
    ).json()
    assert "households" in body["disclosure"]
    published = [i for i in body["items"] if i["stats"]["electricity_import_kwh"]]
    assert published, body
    for item in published:
        stats = item["stats"]["electricity_import_kwh"]
        assert stats["min"] is None and stats["max"] is None
        # Daily views hold the households that consented to daily data or finer: 11 of 12.
        assert item["devices"] == 11
    ward_b = (await api_client.get("/v1/zones/ward-b/rollups/smart_meter?grain=daily")).json()
    assert all(
        i["withheld"]
        == {
            "electricity_import_kwh": "few_contributors",
            "gas_m3": "few_contributors",
            "power_w": "few_contributors",
            "battery_pct": "few_contributors",
            "rssi_dbm": "few_contributors",
        }
        for i in ward_b["items"]
    )


async def test_cors_when_configured(city: City) -> None:
    origin = "https://map.example.org"
    async with serving(create_app(config(city.url, cors_origins=(origin,)))) as client:
        simple = await client.get("/v1/zones", headers={"Origin": origin})
        assert simple.headers["access-control-allow-origin"] == origin
        assert "ETag" in simple.headers["access-control-expose-headers"]
        preflight = await client.options(
            "/v1/devices",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        assert preflight.status_code == 200
        other = await client.get("/v1/zones", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    async with serving(create_app(config(city.url))) as client:
        closed = await client.get("/v1/zones", headers={"Origin": origin})
        assert "access-control-allow-origin" not in closed.headers
