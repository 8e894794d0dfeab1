"""The resident's page without a browser: its headers, its words (the letter's), and its forms'
rules: a mistake comes back on the page, a cross-site post changes nothing, quiet hours can be
cleared, and unknown links are one kind answer that slows a guesser down. The browser test
(``test_resident_page.py``) drives the same forms in Chromium."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import time

import psycopg
import pytest

from api import create_app
from tests.api.conftest import bearer, config, serving
from tests.api.energy_city import OWN, EnergyCity, earlier, energy_database

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OURS = {**FORM, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def street(pg_server: str) -> Iterator[EnergyCity]:
    yield from energy_database(pg_server)


def _preferences(url: str, household: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT channels, quiet_start, quiet_end, max_per_week, unsubscribed_at IS NOT NULL"
            " FROM delivery_preferences WHERE household_id = %s",
            (household,),
        ).fetchone()
    assert row is not None
    return tuple(row)


async def test_the_page_and_its_forms(street: EnergyCity) -> None:
    token = street.tokens[OWN]
    page_path = f"/residents/{token}"
    async with serving(create_app(config(street.url))) as client:
        page = await client.get(page_path)
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-robots-tag"] == "noindex, nofollow"
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        text = page.text
        assert "<script" not in text
        assert f"Your home energy report for {street.period.label()}" in text
        assert f"Your home used {5 * street.period.days:,} kWh." in text
        assert "one reading a day" in text and "the council&#39;s energy team" in text
        assert f"{earlier(street.period).label()}</th>" in text and "Not compared" in text
        assert _preferences(street.url, OWN) == (["email"], None, None, 2, False)

        body = "channels=sms&channels=letter&quiet_start=21:00&quiet_end=07:30&max_per_week=1"
        saved = await client.post(f"{page_path}/choices", content=body, headers=OURS)
        assert saved.status_code == 303
        assert saved.headers["location"] == f"{page_path}?saved=choices#choices"
        assert _preferences(street.url, OWN) == (
            ["sms", "letter"],
            time(21, 0),
            time(7, 30),
            1,
            False,
        )
        again = await client.get(saved.headers["location"])
        assert "Your choices are saved." in again.text
        assert 'value="sms" checked' in again.text and 'value="email">' in again.text
        assert 'value="21:00"' in again.text

        # Quiet hours left empty: none any more.
        cleared = "channels=email&quiet_start=&quiet_end=&max_per_week=2"
        await client.post(f"{page_path}/choices", content=cleared, headers=OURS)
        assert _preferences(street.url, OWN) == (["email"], None, None, 2, False)

        # A mistake comes back on the page, and nothing changes.
        wrong = await client.post(
            f"{page_path}/choices", content="quiet_start=9pm&max_per_week=2", headers=OURS
        )
        assert wrong.status_code == 400
        assert "There is a problem" in wrong.text
        assert 'href="#channels"' in wrong.text and 'href="#quiet_start"' in wrong.text
        assert 'value="9pm"' in wrong.text
        assert _preferences(street.url, OWN) == (["email"], None, None, 2, False)

        # Another site's form changes nothing.
        forged = await client.post(
            f"{page_path}/subscription",
            content="action=unsubscribe",
            headers={**FORM, "Origin": "https://elsewhere.example"},
        )
        assert forged.status_code == 403 and "Nothing was changed" in forged.text
        assert _preferences(street.url, OWN)[4] is False

        stop = await client.post(
            f"{page_path}/subscription", content="action=unsubscribe", headers=OURS
        )
        assert stop.status_code == 303
        assert _preferences(street.url, OWN)[4] is True
        stopped = await client.get(stop.headers["location"])
        assert "Start my reports again" in stopped.text
        start = await client.post(
            f"{page_path}/subscription", content="action=resubscribe", headers=OURS
        )
        assert start.status_code == 303
        assert _preferences(street.url, OWN)[4] is False


async def test_unknown_links(street: EnergyCity) -> None:
    slow = dataclasses.replace(config(street.url), public_rate_per_minute=3)
    # A key has a bucket of its own: what holds the address back below is its failures alone.
    key = bearer(street.keys["developer"])
    async with serving(create_app(slow)) as client:
        unknown = await client.get("/residents/" + "A" * 32, headers=key)
        malformed = await client.get("/residents/not-a-token!", headers=key)
        assert unknown.status_code == malformed.status_code == 404
        assert unknown.text == malformed.text
        assert "We cannot find this page" in unknown.text
        posted = await client.post(
            "/residents/" + "B" * 32 + "/choices", content="channels=sms", headers={**OURS, **key}
        )
        assert posted.status_code == 404
        # Three unknown links used the address's allowance of failures: its real link waits.
        held = await client.get(f"/residents/{street.tokens[OWN]}", headers=key)
        assert held.status_code == 429
        assert held.json()["type"] == "/v1/problems/rate-limited"
        assert int(held.headers["retry-after"]) >= 1
