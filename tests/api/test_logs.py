"""Nothing secret or personal reaches the logs: not keys (or their hashes), not tokens, not
subscribers' contact details, not unsubscribe tokens in paths, not query strings, not client
addresses; even when requests fail."""

from __future__ import annotations

import logging

import pytest

from api import create_app
from api.keys import key_hash
from tests.api.city import OWN_METER, City
from tests.api.conftest import bearer, config, serving

CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own client logs its URLs; the server must not


async def test_no_secret_or_personal_data_in_logs(
    fresh_city: City, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = "jo.bloggs@example.org"
    phone = "+44 7700 900123"
    webhook = "https://hooks.example.org/very-secret-path"
    admin, resident = fresh_city.keys["admin"], fresh_city.keys["resident"]
    revoked_guess = "cpk_" + "A" * 43
    async with serving(create_app(config(fresh_city.url))) as client:
        made = await client.post(
            "/v1/alerts/subscriptions",
            json={
                "area": {"zone_id": "ward-a"},
                "channels": {"email": email, "sms": phone, "webhook": webhook},
            },
            headers=bearer(resident),
        )
        assert made.status_code == 201
        token = made.json()["token"]
        requests = [
            ("GET", "/v1/me", bearer(admin)),
            (
                "GET",
                f"/v1/devices/{OWN_METER}/readings?start=2026-01-01T00:00:00Z",
                bearer(resident),
            ),
            ("GET", "/v1/devices", {"X-API-Key": resident}),
            ("GET", "/v1/devices", bearer(revoked_guess)),  # unknown key: 401
            ("GET", "/v1/devices", {"Authorization": f"Basic {admin}"}),  # malformed: 401
            ("GET", "/v1/devices?cursor=notacursor", bearer(admin)),  # 400
            ("GET", f"/v1/devices?zone={email}", bearer(admin)),  # 422
            ("DELETE", f"/v1/alerts/subscriptions/{token}", {}),
            ("DELETE", f"/v1/alerts/subscriptions/{token}", {}),  # 404 the second time
        ]
        for method, path, headers in requests:
            response = await client.request(method, path, headers=headers)
            assert response.status_code < 500, (path, response.text)
    server = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in server
    )
    access = [r for r in server if r.name == "api.access"]
    assert len(access) == len(requests) + 1, text  # one line per request
    assert "/v1/alerts/subscriptions/{token}" in text  # the route, not the path
    secrets = [
        admin,
        resident,
        revoked_guess,
        key_hash(admin),
        key_hash(resident)[7:],
        token,
        email,
        phone,
        webhook,
        "very-secret-path",
        "jo.bloggs",
        "testclient",
        "127.0.0.1",
        "cursor=",
        "2026-01-01",
    ]
    found = [s for s in secrets if s in text]
    assert not found, found
    assert "key:" in text  # callers appear by key id, which is no secret


async def test_failures_are_logged_without_the_request(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(config(city.url))

    async def fail() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/fail", fail)
    key = city.keys["officer"]
    async with serving(app) as client:
        response = await client.get("/v1/fail?email=jo@example.org", headers=bearer(key))
    assert response.status_code == 500
    server = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server)
    assert "a bug" in text and "RuntimeError" in text
    assert key not in text and "jo@example.org" not in text
