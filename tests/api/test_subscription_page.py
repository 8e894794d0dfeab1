"""``GET /v1/alerts/subscriptions/{token}``, the page alert emails link to: a page for browsers
(never the subscriber's address), JSON for clients, an unsubscribe button that only our own page
can press, and unknown tokens that tell a guesser nothing and slow it down."""

from __future__ import annotations

import dataclasses

import psycopg

from api import create_app
from tests.api.city import City
from tests.api.conftest import bearer, config, serving

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SAME_ORIGIN = {**HTML, "Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
EMAIL = "someone@example.org"


def _ended(url: str, token: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT unsubscribed_at IS NOT NULL FROM alert_subscriptions WHERE token = %s",
            (token,),
        ).fetchone()
    assert row is not None
    return bool(row[0])


async def test_the_page_and_its_unsubscribe_button(fresh_city: City) -> None:
    async with serving(create_app(config(fresh_city.url))) as client:
        made = await client.post(
            "/v1/alerts/subscriptions",
            json={
                "area": {"zone_id": "ward-a"},
                "kinds": ["air_quality", "parking"],
                "min_level": "high",
                "channels": {"email": EMAIL},
                "quiet": {"start": "22:00:00", "end": "07:00:00"},
            },
        )
        token = made.json()["token"]
        path = f"/v1/alerts/subscriptions/{token}"

        page = await client.get(path, headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        for shown in ("Ward A", "air quality, parking", "high pollution up", "22:00 to 07:00"):
            assert shown in page.text
        assert EMAIL not in page.text
        assert f'action="{path}/unsubscribe"' in page.text

        as_json = (await client.get(path)).json()
        assert as_json["active"] is True and as_json["ended_at"] is None
        assert as_json["channels"] == ["email"] and EMAIL not in str(as_json)

        # A form posted from anywhere but our page changes nothing.
        for headers in (
            {},
            {**HTML, "Origin": "https://elsewhere.example"},
            {**HTML, "Sec-Fetch-Site": "cross-site"},
        ):
            refused = await client.post(f"{path}/unsubscribe", headers=headers)
            assert refused.status_code == 403
        assert not _ended(fresh_city.url, token)

        pressed = await client.post(f"{path}/unsubscribe", headers=SAME_ORIGIN)
        assert pressed.status_code == 303
        assert pressed.headers["location"] == f"{path}?ended=1"
        assert _ended(fresh_city.url, token)
        after = await client.get(pressed.headers["location"], headers=HTML)
        assert "You are unsubscribed" in after.text and "This subscription has ended" in after.text
        assert "<form" not in after.text
        ended = (await client.get(path)).json()
        assert ended["active"] is False and ended["ended_at"] is not None
        assert (await client.delete(path)).status_code == 404  # already ended


async def test_unknown_links_tell_nothing_and_slow_guessing_down(fresh_city: City) -> None:
    slow = dataclasses.replace(config(fresh_city.url), public_rate_per_minute=3)
    key = bearer(fresh_city.keys["developer"])  # its own (generous) bucket for the requests
    async with serving(create_app(slow)) as client:
        unknown = await client.get("/v1/alerts/subscriptions/" + "x" * 32, headers={**HTML, **key})
        malformed = await client.get("/v1/alerts/subscriptions/short", headers={**HTML, **key})
        assert unknown.status_code == malformed.status_code == 404
        assert unknown.text == malformed.text
        assert "We cannot find this subscription" in unknown.text
        problem = await client.get("/v1/alerts/subscriptions/" + "y" * 32, headers=key)
        assert problem.json()["type"] == "/v1/problems/not-found"
        # Three failures used the address's allowance: the next look-up waits.
        held = await client.get("/v1/alerts/subscriptions/" + "z" * 32, headers=key)
        assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
