"""Series through the API: a household's data at the granularity it consented to, latest
values, and device health."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.api.city import HOURS, OTHER_METER, OWN_METER, T0, City
from tests.api.conftest import bearer


async def test_a_household_reads_what_it_consented_to(
    api_client: httpx.AsyncClient, city: City
) -> None:
    start = {"start": (T0 - timedelta(days=40)).isoformat()}
    # hh-0001 consented to half-hourly data: everything.
    own = bearer(city.keys["resident"])
    readings = (
        await api_client.get(
            f"/v1/devices/{OWN_METER}/readings", params={**start, "limit": 1000}, headers=own
        )
    ).json()
    assert len(readings["items"]) == HOURS
    assert readings["units"]["electricity_import_kwh"] == "kWh"
    hourly = (
        await api_client.get(
            f"/v1/devices/{OWN_METER}/rollups",
            params={"grain": "hourly", "start": T0.isoformat()},
            headers=own,
        )
    ).json()
    assert len(hourly["items"]) == HOURS
    # hh-0002 consented to monthly data only: its own key gets months, nothing finer.
    other = bearer(city.keys["resident-other"])
    for grain in ("hourly", "daily"):
        finer = (
            await api_client.get(
                f"/v1/devices/{OTHER_METER}/rollups",
                params={"grain": grain, **start},
                headers=other,
            )
        ).json()
        assert finer["items"] == [], grain
    raw = (
        await api_client.get(f"/v1/devices/{OTHER_METER}/readings", params=start, headers=other)
    ).json()
    assert raw["items"] == []
    latest = (await api_client.get(f"/v1/devices/{OTHER_METER}/latest", headers=other)).json()
    assert latest["reading"] is None
    monthly = (
        await api_client.get(
            f"/v1/devices/{OTHER_METER}/rollups",
            params={"grain": "monthly", **start},
            headers=other,
        )
    ).json()
    assert sum(b["samples"] for b in monthly["items"]) == HOURS


async def test_latest_values(api_client: httpx.AsyncClient) -> None:
    bay = (await api_client.get("/v1/devices/bay-1/latest")).json()
    assert bay["reading"]["ts"] == (T0 + timedelta(hours=HOURS - 1)).isoformat()
    assert bay["reading"]["values"]["occupied"] == ((HOURS - 1) % 2 == 0)
    assert bay["units"]["occupied"] == ""
    nothing = (await api_client.get("/v1/devices/bay-2/latest")).json()
    assert nothing["reading"] is None
    table = (
        await api_client.get(
            "/v1/devices/bay-1/readings",
            params={"format": "csv", "limit": 2, "start": T0.isoformat()},
        )
    ).text
    assert table.splitlines()[1].split(",")[3] == "true"


async def test_device_health(api_client: httpx.AsyncClient, city: City) -> None:
    developer = bearer(city.keys["developer"])
    body = (await api_client.get("/v1/device-health", headers=developer)).json()
    by_id = {h["device_id"]: h for h in body["items"]}
    assert set(by_id) == {"aq-1", "aq-2", "aq-3", "bay-1", "bay-2", "wx-1"}  # no homes
    assert by_id["bay-2"]["state"] in ("offline", "never_seen")
    assert by_id["aq-1"]["state"] == "late"  # last reading over a day ago
    assert by_id["aq-1"]["silence_s"] > 3600
    late = (
        await api_client.get("/v1/device-health?state=late&type=air_quality", headers=developer)
    ).json()
    assert [h["device_id"] for h in late["items"]] == ["aq-1", "aq-2", "aq-3"]
    zoned = (await api_client.get("/v1/device-health?zone=ward-b", headers=developer)).json()
    assert [h["device_id"] for h in zoned["items"]] == ["aq-3"]
    table = (await api_client.get("/v1/device-health?format=csv", headers=developer)).text
    assert table.splitlines()[0].startswith("device_id,device_type,state,last_seen")
