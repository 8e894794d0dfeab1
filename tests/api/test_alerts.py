"""Alerts through the API: list with filters and pages (alerts about homes hidden from the
public without thinning pages wrongly), one alert with its trail, acknowledging, and
subscriptions made and ended by token."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx

from api import create_app
from storage import alerts as store
from storage.alerts import AlertRecord
from storage.connection import connect
from tests.api.city import OTHER_METER, T0, City
from tests.api.conftest import bearer, config, serving


async def test_list_filters_and_visibility(api_client: httpx.AsyncClient, city: City) -> None:
    public = (await api_client.get("/v1/alerts")).json()["items"]
    assert [a["subject"] for a in public] == ["bay-2", "ward-a"]  # newest first; no meter
    assert all(a["acknowledged_by"] is None for a in public)
    staff = (await api_client.get("/v1/alerts", headers=bearer(city.keys["officer"]))).json()
    assert [a["subject"] for a in staff["items"]] == [OTHER_METER, "bay-2", "ward-a"]
    assert staff["items"][-1]["kind"] == "zone_daqi"
    zone = (await api_client.get("/v1/alerts?zone=ward-b")).json()["items"]
    assert zone == []
    since = (T0 + timedelta(minutes=30)).isoformat()
    recent = (await api_client.get("/v1/alerts", params={"since": since})).json()["items"]
    assert [a["subject"] for a in recent] == ["bay-2"]
    resolved = (await api_client.get("/v1/alerts?state=resolved")).json()["items"]
    assert resolved == []
    table = (await api_client.get("/v1/alerts?format=csv")).text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [r["subject"] for r in rows] == ["bay-2", "ward-a"]
    assert rows[0]["opened_at"].endswith("+00:00")


async def test_pages_skip_hidden_alerts(fresh_city: City) -> None:
    async with await connect(fresh_city.url, autocommit=True) as conn:
        for i in range(12):
            subject = OTHER_METER if i % 3 else "ward-b"  # two of every three about a home
            at = T0 + timedelta(hours=5, minutes=i)
            await store.save(
                conn,
                AlertRecord(
                    None,
                    "device-offline" if i % 3 else "zone-daqi",
                    f"{subject}",
                    "resolved",
                    "offline",
                    None,
                    f"alert {i}",
                    "ward-b",
                    at,
                    at,
                ),
                "opened",
                "test",
            )
    async with serving(create_app(config(fresh_city.url))) as client:
        seen: list[int] = []
        url: str | None = "/v1/alerts?limit=2"
        pages = 0
        while url is not None:
            body = (await client.get(url)).json()
            assert len(body["items"]) <= 2
            seen += [a["alert_id"] for a in body["items"]]
            url = body["links"]["next"]
            pages += 1
            assert pages < 20
        officer = bearer(fresh_city.keys["officer"])
        everything = (await client.get("/v1/alerts?limit=1000", headers=officer)).json()["items"]
    visible = [a["alert_id"] for a in everything if a["subject"] != OTHER_METER]
    assert seen == visible  # each once, newest first, none about a home
    assert len(visible) == 4 + 2


async def test_one_alert_and_its_trail(api_client: httpx.AsyncClient, city: City) -> None:
    alert_id = city.alert_ids["zone"]
    public = (await api_client.get(f"/v1/alerts/{alert_id}")).json()
    assert public["message"] == "Air quality in Ward A is high"
    assert public["history"] == [
        {
            "at": T0.isoformat(),
            "action": "opened",
            "actor": None,
            "detail": {"level": "high", "value": 7.0},
        }
    ]
    staff = await api_client.get(f"/v1/alerts/{alert_id}", headers=bearer(city.keys["admin"]))
    assert staff.json()["history"][0]["actor"] == "civicpulse-alerts"
    assert (await api_client.get("/v1/alerts/999999")).status_code == 404
    hidden = await api_client.get(f"/v1/alerts/{city.alert_ids['meter']}")
    assert hidden.status_code == 404


async def test_acknowledge(fresh_city: City) -> None:
    alert_id = fresh_city.alert_ids["bay"]
    officer = bearer(fresh_city.keys["officer"])
    async with serving(create_app(config(fresh_city.url))) as client:
        acked = await client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=officer)
        assert acked.status_code == 200
        body = acked.json()
        assert body["state"] == "acknowledged"
        assert (
            body["acknowledged_by"].startswith("api-key:")
            and "test officer" in body["acknowledged_by"]
        )
        assert acked.headers["cache-control"] == "no-store"
        again = await client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=officer)
        assert again.status_code == 200 and again.json() == body
        history = (await client.get(f"/v1/alerts/{alert_id}", headers=officer)).json()["history"]
        assert [e["action"] for e in history] == ["opened", "acknowledged"]  # once
        missing = await client.post("/v1/alerts/424242/acknowledge", headers=officer)
        assert missing.status_code == 404
    async with await connect(fresh_city.url, autocommit=True) as conn:
        record = await store.get_alert(conn, fresh_city.alert_ids["zone"])
        assert record is not None
        from dataclasses import replace

        await store.save(conn, replace(record, state="resolved"), "resolved", "test")
    async with serving(create_app(config(fresh_city.url))) as client:
        resolved = await client.post(
            f"/v1/alerts/{fresh_city.alert_ids['zone']}/acknowledge", headers=officer
        )
        assert resolved.status_code == 409
        assert resolved.json()["type"] == "/v1/problems/conflict"


async def test_subscribe_and_unsubscribe(fresh_city: City) -> None:
    async with serving(create_app(config(fresh_city.url))) as client:
        zone = await client.post(
            "/v1/alerts/subscriptions",
            json={
                "area": {"zone_id": "ward-a"},
                "kinds": ["air_quality", "parking"],
                "min_level": "high",
                "channels": {"email": "resident@example.org"},
                "quiet": {"start": "22:00:00", "end": "07:00:00"},
            },
        )
        assert zone.status_code == 201, zone.text
        made = zone.json()
        assert made["area"] == {"zone_id": "ward-a"}
        assert made["channels"] == ["email"] and "resident@example.org" not in zone.text
        assert zone.headers["location"] == made["unsubscribe"]
        assert made["unsubscribe"] == f"/v1/alerts/subscriptions/{made['token']}"
        circle = await client.post(
            "/v1/alerts/subscriptions",
            json={
                "area": {"lon": -0.15, "lat": 51.54},
                "kinds": ["parking"],
                "channels": {"webhook": "https://example.org/hook"},
            },
        )
        assert circle.status_code == 201
        assert circle.json()["area"] == {"lon": -0.15, "lat": 51.54, "radius_m": 500.0}
        for bad in (
            {"area": {"zone_id": "no-such-zone"}, "channels": {"email": "a@example.org"}},
            {"area": {"zone_id": "ward-a"}, "channels": {}},
            {"area": {"zone_id": "ward-a", "lon": 1.0}, "channels": {"email": "a@example.org"}},
            {"area": {"zone_id": "ward-a"}, "channels": {"webhook": "http://plain.example"}},
            {"area": {"lon": 0.0, "lat": 0.0, "radius_m": 0}, "channels": {"sms": "+447700900123"}},
        ):
            refused = await client.post("/v1/alerts/subscriptions", json=bad)
            assert refused.status_code == 422, (bad, refused.text)
        async with await connect(fresh_city.url, autocommit=True) as conn:
            active = await store.active_subscriptions(conn)
        assert {s.token for s in active} == {made["token"], circle.json()["token"]}
        stored = next(s for s in active if s.token == made["token"])
        assert stored.channels == {"email": "resident@example.org"}
        assert stored.kinds == ("air_quality", "parking") and stored.min_level == "high"
        gone = await client.delete(made["unsubscribe"])
        assert gone.status_code == 204
        assert (await client.delete(made["unsubscribe"])).status_code == 404
        async with await connect(fresh_city.url, autocommit=True) as conn:
            left = await store.active_subscriptions(conn)
        assert [s.token for s in left] == [circle.json()["token"]]
