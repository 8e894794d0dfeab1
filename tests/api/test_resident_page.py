"""The resident's page in a real browser: Debian's Chromium, headless, driven by Playwright
against ``civicpulse api`` serving a database with last month's reports.

It renders; axe-core finds no WCAG 2.2 AA violation (on a desktop and on a phone, with the
target-size rule on, in its normal, error and unsubscribed states); it prints to PDF with the
letter's sentences and without the forms; its forms change the database; it fits a phone's width.

Playwright may not download browsers here: it runs the system's ``chromium`` (``scripts/test``
installs it when it can). Without one the test is skipped, and says so loudly.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from civicpulse.embedded import free_port
from tests.api.energy_city import OWN, EnergyCity, energy_database
from tests.cli_harness import cli_env
from tests.processes import Processes

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": WCAG_22_AA},
    "rules": {"target-size": {"enabled": True}},  # WCAG 2.2's 2.5.8, off in axe by default
    "resultTypes": ["violations"],
}
COUNCIL = "London Borough of Testham"
CONTACT = "the Testham energy team on 020 7946 0000"


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CIVICPULSE_CHROMIUM"), *CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="NO CHROMIUM FOUND: the resident page's browser and accessibility test DID NOT RUN."
    " Install Debian's chromium (`apt-get install -y chromium`; scripts/test does it when it"
    " can) or set CIVICPULSE_CHROMIUM to a Chromium executable.",
)


@dataclass(frozen=True, slots=True)
class Served:
    street: EnergyCity
    base: str
    log: Path


@pytest.fixture(scope="module")
def served(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``civicpulse api`` on a free port, over a street with last month's reports."""
    for street in energy_database(pg_server):
        port = free_port()
        processes = Processes()
        log = tmp_path_factory.mktemp("resident-page") / "api.log"
        env = cli_env(
            {
                "CIVICPULSE_DATABASE_URL": street.url,
                "CIVICPULSE_COUNCIL_NAME": COUNCIL,
                "CIVICPULSE_COUNCIL_CONTACT": CONTACT,
            }
        )
        try:
            processes.start(
                [sys.executable, "-m", "civicpulse.cli", "api", "--port", str(port)],
                env=env,
                log=log,
            )
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/v1", log)
            yield Served(street, base, log)
        finally:
            processes.stop_all()


def _wait_for(url: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the API did not start:\n{log.read_text()}")
        time.sleep(0.2)


def _preferences(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT channels, quiet_start::text, quiet_end::text, max_per_week,"
            " unsubscribed_at IS NOT NULL FROM delivery_preferences WHERE household_id = %s",
            (OWN,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def _no_violations(page: object, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(page, options=AXE_OPTIONS)
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ]
    assert not found, f"{where}:\n" + "\n".join(found)


def _words(text: str) -> str:
    # NFKC undoes the ligatures a PDF's text carries ("ﬃ" in "efficient").
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def test_the_page_in_chromium(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright
    from pypdf import PdfReader

    street = served.street
    url = f"{served.base}/residents/{street.tokens[OWN]}"
    used = f"Your home used {5 * street.period.days:,} kWh."
    letter_lines = [
        f"Your home energy report for {street.period.label()}",
        "Great: you used less than your efficient neighbours. Keep it up!",
        used,
        "How this is worked out: we compare your home with 24 similar homes nearby",
        f"To change how you receive these reports, or to stop them, call the council or visit {url}",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            desktop = browser.new_context(viewport={"width": 1280, "height": 900})
            page = desktop.new_page()
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert page.title() == f"Your home energy report \u2013 {COUNCIL}"
            expect(page.get_by_role("heading", level=1)).to_have_text("Your home energy report")
            chart = page.get_by_role("img", name=re.compile("Energy used in"))
            expect(chart).to_be_visible()
            expect(page.get_by_role("table", name="The figures in the chart")).to_contain_text(
                "Similar homes, on average"
            )
            expect(page.locator("#consent")).to_contain_text(CONTACT)
            _no_violations(page, "the page")

            # Printed: the letter's content, without the forms.
            page.emulate_media(media="print")
            expect(page.locator("#choices")).to_be_hidden()
            expect(page.get_by_text("To change how you receive these reports")).to_be_visible()
            pdf = page.pdf(format="A4", print_background=False)
            assert pdf.startswith(b"%PDF")
            printed = _words(
                " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
            )
            for line in letter_lines:
                assert _words(line) in printed, (line, printed[:600])
            assert "Save my choices" not in printed and "Stop my reports" not in printed
            page.emulate_media(media="screen")

            # A mistake: every channel unticked. The error is announced and accessible.
            page.get_by_label("Email").uncheck()
            page.get_by_role("button", name="Save my choices").click()
            expect(page.get_by_role("alert")).to_contain_text("Choose at least one way")
            _no_violations(page, "the page with an error")
            assert _preferences(street.url)[0] == ["email"]

            # Text message and letter, quiet hours, at most one a week.
            page.get_by_label("Text message").check()
            page.get_by_label("Letter by post").check()
            page.get_by_label("From").fill("21:00")
            page.get_by_label("Until").fill("07:30")
            page.get_by_label("At most this many messages a week").select_option("1")
            page.get_by_role("button", name="Save my choices").click()
            expect(page.get_by_role("status")).to_have_text("Your choices are saved.")
            assert page.url.endswith("?saved=choices#choices")
            assert _preferences(street.url) == (["sms", "letter"], "21:00:00", "07:30:00", 1, False)
            expect(page.get_by_label("Text message")).to_be_checked()

            page.get_by_role("button", name="Stop my reports").click()
            expect(page.get_by_role("button", name="Start my reports again")).to_be_visible()
            assert _preferences(street.url)[4] is True
            _no_violations(page, "the page after unsubscribing")
            page.get_by_role("button", name="Start my reports again").click()
            expect(page.get_by_role("button", name="Stop my reports")).to_be_visible()
            assert _preferences(street.url)[4] is False

            missing = page.goto(f"{served.base}/residents/{'Q' * 32}")
            assert missing is not None and missing.status == 404
            _no_violations(page, "the page for an unknown link")

            # The other pages for people: an alert subscription's, and the open data catalogue.
            made = httpx.post(
                f"{served.base}/v1/alerts/subscriptions",
                json={"area": {"zone_id": "ward-a"}, "channels": {"email": "me@example.org"}},
                timeout=10,
            )
            subscription = f"{served.base}/v1/alerts/subscriptions/{made.json()['token']}"
            page.goto(subscription)
            expect(page.get_by_role("heading", level=1)).to_have_text("Your alert subscription")
            _no_violations(page, "an alert subscription's page")
            page.get_by_role("button", name="Unsubscribe").click()
            expect(page.get_by_role("status")).to_have_text(
                "You are unsubscribed. We will send you no more alerts."
            )
            _no_violations(page, "an ended alert subscription's page")
            page.goto(f"{served.base}/v1/open-data")
            expect(page.get_by_role("heading", level=1)).to_have_text("Open data")
            _no_violations(page, "the open data catalogue")
            desktop.close()

            # A phone: nothing wider than the screen, and still no violation.
            phone = browser.new_context(
                viewport={"width": 360, "height": 740},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            small = phone.new_page()
            small.goto(url)
            overflow = small.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow == 0
            box = small.get_by_role("img", name=re.compile("Energy used in")).bounding_box()
            assert box is not None and box["width"] <= 360
            _no_violations(small, "the page on a phone")
            phone.close()
        finally:
            browser.close()
    # The access log names the route, never the household's token.
    logged = served.log.read_text()
    assert "GET /residents/{token} 200" in logged
    assert "POST /residents/{token}/choices 303" in logged
    assert street.tokens[OWN] not in logged
