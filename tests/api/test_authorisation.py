"""The authorisation matrix: every route, asked by every scope. A household's data goes to its
own resident key only (another household's is 404, an officer's or admin's request 403); other
callers never see it, and no refusal carries data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from api import create_app
from api.routes import ROUTERS
from tests.api.city import OTHER_HOUSEHOLD, OTHER_METER, OWN_HOUSEHOLD, OWN_METER, City
from tests.api.conftest import _city, bearer, config, serving

LABELS = ("public", "developer", "officer", "admin", "resident", "resident-other")
EVERYONE = dict.fromkeys(LABELS, 200)
KEYS_ONLY_STAFF = {
    "public": 401,
    "developer": 403,
    "resident": 403,
    "resident-other": 403,
    "officer": 200,
    "admin": 200,
}
# One household's meter: its resident reads it; staff are refused; others cannot see it.
OWN_SERIES = {
    "public": 404,
    "developer": 404,
    "officer": 403,
    "admin": 403,
    "resident": 200,
    "resident-other": 404,
}
OTHER_SERIES = {**OWN_SERIES, "resident": 404, "resident-other": 200}
METER_DEVICE = {
    "public": 404,
    "developer": 404,
    "officer": 200,
    "admin": 200,
    "resident": 200,
    "resident-other": 404,
}
STAFF_ONLY_VISIBLE = {
    "public": 404,
    "developer": 404,
    "officer": 200,
    "admin": 200,
    "resident": 404,
    "resident-other": 404,
}
HEALTH = {
    "public": 401,
    "developer": 200,
    "officer": 200,
    "admin": 200,
    "resident": 403,
    "resident-other": 403,
}
NOBODY = dict.fromkeys(LABELS, 403)
# A household's energy reports: its own key only (staff refused, other keys cannot see it).
HOUSEHOLD = {
    "public": 401,
    "developer": 403,
    "officer": 403,
    "admin": 403,
    "resident": 200,
    "resident-other": 404,
}
SUBSCRIBE = {"area": {"zone_id": "ward-a"}, "channels": {"email": "someone@example.org"}}


@dataclass(frozen=True)
class Case:
    method: str
    template: str
    path: str
    expect: dict[str, int]
    body: dict[str, Any] | None = None
    alert: str | None = None
    """The path names this alert of the city (its id is filled in)."""


CASES = [
    Case("GET", "/v1", "/v1", EVERYONE),
    Case("GET", "/v1/me", "/v1/me", EVERYONE),
    Case("GET", "/v1/device-types", "/v1/device-types", EVERYONE),
    Case("GET", "/v1/problems", "/v1/problems", EVERYONE),
    Case("GET", "/v1/problems/{slug}", "/v1/problems/rate-limited", EVERYONE),
    Case("GET", "/v1/devices", "/v1/devices", EVERYONE),
    Case("GET", "/v1/devices/{device_id}", "/v1/devices/aq-1", EVERYONE),
    Case("GET", "/v1/devices/{device_id}", f"/v1/devices/{OWN_METER}", METER_DEVICE),
    Case("GET", "/v1/device-health", "/v1/device-health", HEALTH),
    Case("GET", "/v1/devices/{device_id}/readings", "/v1/devices/aq-1/readings", EVERYONE),
    Case(
        "GET", "/v1/devices/{device_id}/readings", f"/v1/devices/{OWN_METER}/readings", OWN_SERIES
    ),
    Case("GET", "/v1/devices/{device_id}/latest", "/v1/devices/bay-1/latest", EVERYONE),
    Case("GET", "/v1/devices/{device_id}/latest", f"/v1/devices/{OWN_METER}/latest", OWN_SERIES),
    Case(
        "GET", "/v1/devices/{device_id}/rollups", "/v1/devices/aq-1/rollups?grain=daily", EVERYONE
    ),
    Case(
        "GET",
        "/v1/devices/{device_id}/rollups",
        f"/v1/devices/{OWN_METER}/rollups?grain=hourly",
        OWN_SERIES,
    ),
    Case(
        "GET",
        "/v1/devices/{device_id}/rollups",
        f"/v1/devices/{OTHER_METER}/rollups?grain=monthly",
        OTHER_SERIES,
    ),
    Case("GET", "/v1/zones", "/v1/zones", EVERYONE),
    Case("GET", "/v1/zones/{zone_id}", "/v1/zones/ward-a", EVERYONE),
    Case(
        "GET",
        "/v1/zones/{zone_id}/rollups/{device_type}",
        "/v1/zones/ward-a/rollups/air_quality?grain=hourly",
        EVERYONE,
    ),
    Case(
        "GET",
        "/v1/zones/{zone_id}/rollups/{device_type}",
        "/v1/zones/ward-a/rollups/smart_meter?grain=daily",
        EVERYONE,
    ),
    Case(
        "GET",
        "/v1/zones/{zone_id}/rollups/{device_type}",
        "/v1/zones/ward-a/rollups/smart_meter?grain=hourly",
        NOBODY,
    ),
    Case(
        "GET",
        "/v1/zones/{zone_id}/rollups/{device_type}",
        "/v1/zones/pz-a1/rollups/smart_meter?grain=daily",
        NOBODY,
    ),
    Case("GET", "/v1/parking/availability", "/v1/parking/availability?by=street", EVERYONE),
    Case(
        "GET",
        "/v1/parking/zones/{zone_id}/availability",
        "/v1/parking/zones/pz-a1/availability",
        EVERYONE,
    ),
    Case("GET", "/v1/parking/bays", "/v1/parking/bays?lon=-0.159&lat=51.531", EVERYONE),
    Case(
        "GET",
        "/v1/parking/zones/{zone_id}/occupancy",
        "/v1/parking/zones/pz-a1/occupancy",
        EVERYONE,
    ),
    Case(
        "GET", "/v1/parking/zones/{zone_id}/forecast", "/v1/parking/zones/pz-a1/forecast", EVERYONE
    ),
    # Streams of a zone that exists never end (tests/api/test_live.py); one that does not: 404.
    Case(
        "GET",
        "/v1/parking/zones/{zone_id}/availability/stream",
        "/v1/parking/zones/nowhere/availability/stream",
        dict.fromkeys(LABELS, 404),
    ),
    Case(
        "GET",
        "/v1/alerts/zones/{zone_id}/stream",
        "/v1/alerts/zones/nowhere/stream",
        dict.fromkeys(LABELS, 404),
    ),
    Case("GET", "/v1/air-quality/monitors", "/v1/air-quality/monitors", EVERYONE),
    Case("GET", "/v1/air-quality/monitors/{device_id}", "/v1/air-quality/monitors/aq-1", EVERYONE),
    # A meter is no monitor, whoever asks: its id tells nobody anything.
    Case(
        "GET",
        "/v1/air-quality/monitors/{device_id}",
        f"/v1/air-quality/monitors/{OWN_METER}",
        dict.fromkeys(LABELS, 404),
    ),
    Case(
        "GET",
        "/v1/air-quality/monitors/{device_id}/daqi",
        "/v1/air-quality/monitors/aq-1/daqi",
        EVERYONE,
    ),
    Case(
        "GET",
        "/v1/air-quality/monitors/{device_id}/compliance",
        f"/v1/air-quality/monitors/{OWN_METER}/compliance",
        dict.fromkeys(LABELS, 404),
    ),
    Case(
        "GET",
        "/v1/air-quality/monitors/{device_id}/compliance",
        "/v1/air-quality/monitors/aq-1/compliance",
        EVERYONE,
    ),
    Case("GET", "/v1/air-quality/zones", "/v1/air-quality/zones", EVERYONE),
    Case("GET", "/v1/air-quality/zones/{zone_id}", "/v1/air-quality/zones/ward-a", EVERYONE),
    Case("GET", "/v1/ngsi-ld/v1/entities", "/v1/ngsi-ld/v1/entities?type=ParkingSpot", EVERYONE),
    Case(
        "GET",
        "/v1/ngsi-ld/v1/entities/{entity_id}",
        "/v1/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:aq-1",
        EVERYONE,
    ),
    Case("GET", "/v1/alerts", "/v1/alerts", EVERYONE),
    Case("GET", "/v1/alerts/{alert_id}", "/v1/alerts/{}", EVERYONE, alert="zone"),
    Case("GET", "/v1/alerts/{alert_id}", "/v1/alerts/{}", STAFF_ONLY_VISIBLE, alert="meter"),
    Case(
        "POST",
        "/v1/alerts/{alert_id}/acknowledge",
        "/v1/alerts/{}/acknowledge",
        KEYS_ONLY_STAFF,
        alert="bay",
    ),
    Case(
        "POST",
        "/v1/alerts/subscriptions",
        "/v1/alerts/subscriptions",
        dict.fromkeys(LABELS, 201),
        body=SUBSCRIBE,
    ),
    Case(
        "DELETE",
        "/v1/alerts/subscriptions/{token}",
        "/v1/alerts/subscriptions/nosuchtokenxxxxxxxxxxxxxxxxxxx",
        dict.fromkeys(LABELS, 404),
    ),
    Case(
        "GET",
        "/v1/alerts/subscriptions/{token}",
        "/v1/alerts/subscriptions/nosuchtokenxxxxxxxxxxxxxxxxxxx",
        dict.fromkeys(LABELS, 404),
    ),
    # A form post without the browser's same-origin headers is refused before the token is read.
    Case(
        "POST",
        "/v1/alerts/subscriptions/{token}/unsubscribe",
        "/v1/alerts/subscriptions/nosuchtokenxxxxxxxxxxxxxxxxxxx/unsubscribe",
        NOBODY,
    ),
    Case(
        "GET",
        "/v1/energy/households/{household_id}/reports",
        f"/v1/energy/households/{OWN_HOUSEHOLD}/reports",
        HOUSEHOLD,
    ),
    Case(
        "GET",
        "/v1/energy/households/{household_id}/reports",
        f"/v1/energy/households/{OTHER_HOUSEHOLD}/reports",
        {**HOUSEHOLD, "resident": 404, "resident-other": 200},
    ),
    # The matrix city has no reports: the own household's key finds no such month.
    Case(
        "GET",
        "/v1/energy/households/{household_id}/reports/{period}",
        f"/v1/energy/households/{OWN_HOUSEHOLD}/reports/2026-10",
        {**HOUSEHOLD, "resident": 404},
    ),
    Case("GET", "/v1/energy/statistics", "/v1/energy/statistics", KEYS_ONLY_STAFF),
    Case("GET", "/v1/energy/trials", "/v1/energy/trials", KEYS_ONLY_STAFF),
    Case("GET", "/v1/open-data", "/v1/open-data", EVERYONE),
    Case("GET", "/v1/open-data/air-quality-hourly", "/v1/open-data/air-quality-hourly", EVERYONE),
    Case("GET", "/v1/open-data/zone-daqi", "/v1/open-data/zone-daqi", EVERYONE),
    Case("GET", "/v1/open-data/parking-occupancy", "/v1/open-data/parking-occupancy", EVERYONE),
    Case("GET", "/v1/open-data/energy-monthly", "/v1/open-data/energy-monthly", EVERYONE),
]


@pytest.fixture(scope="module")
def matrix_city(pg_server: str) -> Iterator[City]:
    """Its own city: acknowledging and subscribing change it."""
    yield from _city(pg_server)


def headers(city: City, label: str) -> dict[str, str]:
    return {} if label == "public" else bearer(city.keys[label])


def _leaks(body: str, label: str, path: str) -> list[str]:
    """Meter ids a caller may not see that appear in an answer to it (beyond its own request)."""
    if label in ("officer", "admin"):
        return []
    meters = {"resident": {OWN_METER}, "resident-other": {OTHER_METER}}.get(label, set())
    return [m for m in (OWN_METER, OTHER_METER) if m in body and m not in meters | {path}]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_route_by_scope(matrix_city: City, case: Case) -> None:
    path = case.path.format(matrix_city.alert_ids[case.alert]) if case.alert else case.path
    wrong = []
    async with serving(create_app(config(matrix_city.url))) as client:
        for label in LABELS:
            response = await client.request(
                case.method, path, headers=headers(matrix_city, label), json=case.body
            )
            if response.status_code != case.expect[label]:
                wrong.append(f"{label}: {response.status_code} {response.text[:200]}")
                continue
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
                assert set(response.json()) <= {"type", "title", "status", "detail", "instance"}
            asked = next((m for m in (OWN_METER, OTHER_METER) if m in path), path)
            leaked = _leaks(response.text, label, asked)
            if leaked:
                wrong.append(f"{label}: answer names {leaked}")
    assert not wrong, f"{case.method} {path}:\n" + "\n".join(wrong)


def test_matrix_covers_every_route() -> None:
    served = {
        (method, "/v1" + route.path)  # type: ignore[attr-defined]
        for router in ROUTERS
        for route in router.routes
        for method in route.methods  # type: ignore[attr-defined]
    }
    served -= {("HEAD", path) for _, path in served}
    assert served == {(c.method, c.template) for c in CASES}


async def test_devices_list_by_scope(matrix_city: City) -> None:
    """Which meters each scope finds in the device list."""
    expected = {
        "public": set(),
        "developer": set(),
        "resident": {OWN_METER},
        "resident-other": {OTHER_METER},
    }
    async with serving(create_app(config(matrix_city.url))) as client:
        for label in LABELS:
            features = (
                await client.get(
                    "/v1/devices?type=smart_meter", headers=headers(matrix_city, label)
                )
            ).json()["features"]
            meters = {f["id"] for f in features}
            if label in ("officer", "admin"):
                assert len(meters) == 14, label
            else:
                assert meters == expected[label], label


async def test_resident_sees_only_own_household(matrix_city: City) -> None:
    async with serving(create_app(config(matrix_city.url))) as client:
        own = bearer(matrix_city.keys["resident"])
        readings = await client.get(f"/v1/devices/{OWN_METER}/readings", headers=own)
        assert readings.status_code == 200
        assert readings.json()["items"], "the household consented to half-hourly data"
        for path in (
            f"/v1/devices/{OTHER_METER}",
            f"/v1/devices/{OTHER_METER}/readings",
            f"/v1/devices/{OTHER_METER}/latest",
            f"/v1/devices/{OTHER_METER}/rollups?grain=monthly",
            "/v1/devices/meter-0003/rollups?grain=daily",
        ):
            response = await client.get(path, headers=own)
            assert response.status_code == 404, path
            assert "electricity" not in response.text
        me = (await client.get("/v1/me", headers=own)).json()
        assert me == {"scope": "resident", "subject": me["subject"], "household_id": "hh-0001"}


async def test_officer_never_gets_one_household(matrix_city: City) -> None:
    async with serving(create_app(config(matrix_city.url))) as client:
        officer = bearer(matrix_city.keys["officer"])
        for grain in ("hourly", "daily", "monthly"):
            response = await client.get(
                f"/v1/devices/{OWN_METER}/rollups?grain={grain}", headers=officer
            )
            assert response.status_code == 403
            assert response.json()["type"] == "/v1/problems/household-data"
        ward_b = await client.get(
            "/v1/zones/ward-b/rollups/smart_meter?grain=daily", headers=officer
        )
        assert ward_b.status_code == 200
        items = ward_b.json()["items"]
        assert items and all(i["stats"]["electricity_import_kwh"] is None for i in items)
        assert all(i["withheld"]["electricity_import_kwh"] == "few_contributors" for i in items)


def test_every_scope_has_a_key(city: City) -> None:
    assert set(LABELS) - {"public"} == set(city.keys)
