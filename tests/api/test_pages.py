"""The pure parts of the pages: the letter cut into blocks (nothing lost, nothing added), the
chart's geometry, the settings form's checks, and who counts as a browser on our own site."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from starlette.requests import Request

from api.pages.chart import WIDTH, comparison_chart
from api.pages.forms import check
from api.pages.letter import Block, parse
from api.pages.render import same_origin, wants_html
from api.problems import ApiProblem
from delivery.nudges import nudge_message

NUDGE = {
    "programme_id": "home-energy-reports",
    "household_id": "hh-0042",
    "device_id": "m-42",
    "period_start": date(2026, 10, 1),
    "period_end": date(2026, 11, 1),
    "status": "ready",
    "rating": "above_average",
    "usage_kwh": 412.0,
    "average_kwh": 300.4,
    "efficient_kwh": 201.9,
    "peers": 57,
    "computed_at": datetime(2026, 11, 2),
    "figures": {
        "period": "October 2026",
        "suggestions": [
            {"name": "heating", "text": "Turn the thermostat down by one degree."},
            {"name": "baseload", "text": "Switch off devices left on standby."},
        ],
        "insights": [{"name": "last_year", "text": "You used 12% more than last October."}],
    },
}


def test_the_page_shows_every_line_of_the_letter() -> None:
    text = nudge_message(NUDGE, page_url="https://c.example/residents/abc").letter
    letter = parse(text)
    assert letter.title == "Your home energy report for October 2026"
    assert letter.blocks == (
        Block("paragraph", "You used more than your average neighbours."),
        Block(
            "paragraph",
            "Your home used 412 kWh. Similar homes near you used 300 kWh on average; the most"
            " efficient fifth of them used 202 kWh or less. Small changes add up: the tips"
            " below show where your home could save.",
        ),
        Block(
            "list",
            "What you could do:",
            (
                "Turn the thermostat down by one degree.",
                "Switch off devices left on standby.",
            ),
        ),
        Block("list", "About your home:", ("You used 12% more than last October.",)),
        Block("paragraph", letter.blocks[4].text),
        Block(
            "paragraph",
            "To change how you receive these reports, or to stop them, call the council or"
            " visit https://c.example/residents/abc",
        ),
    )
    assert letter.blocks[4].text.startswith("How this is worked out: we compare your home with 57")
    assert [b.has_figures for b in letter.blocks] == [False, True, False, False, False, False]
    # Nothing lost: every word of the letter is on the page.
    shown = (
        [letter.title]
        + [b.text for b in letter.blocks]
        + [i for b in letter.blocks for i in b.items]
    )
    assert sorted(" ".join(shown).split()) == sorted(text.replace("- ", "", 3).split())


def test_the_chart_puts_three_bars_to_one_scale() -> None:
    chart = comparison_chart(usage=400.0, average=200.0, efficient=0.0)
    you, average, efficient = chart.bars
    assert (you.label, you.text, you.css_class) == ("Your home", "400 kWh", "bar-you")
    assert you.width == pytest.approx(WIDTH - 90)
    assert average.width == pytest.approx((WIDTH - 90) / 2)
    assert efficient.width == 2.0  # a zero still shows
    assert [b.bar_y for b in chart.bars] == [20.0, 74.0, 128.0]
    assert chart.height == 154
    assert you.text_x == pytest.approx(you.width + 6)


def _form(**values: str | list[str]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


def test_the_settings_form() -> None:
    good = check(
        _form(
            channels=["sms", "email", "fax"],
            quiet_start="21:30",
            quiet_end="07:00",
            max_per_week="3",
        )
    )
    assert good.errors == {}
    assert good.choices is not None
    assert good.choices.channels == ("email", "sms")  # the page's order; unknown ones dropped
    assert good.choices.quiet == (time(21, 30), time(7, 0))
    assert good.choices.max_per_week == 3
    no_quiet = check(_form(channels="letter", quiet_start="", quiet_end="", max_per_week="1"))
    assert no_quiet.choices is not None and no_quiet.choices.quiet is None
    bad = check(_form(quiet_start="late", quiet_end="07:00", max_per_week="9"))
    assert bad.choices is None
    assert set(bad.errors) == {"channels", "quiet_start", "max_per_week"}
    assert bad.values["quiet_start"] == "late"  # shown again to correct
    same = check(_form(channels="email", quiet_start="22:00", quiet_end="22:00", max_per_week="2"))
    assert set(same.errors) == {"quiet_end"}


def _request(headers: dict[str, str]) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "same-origin", "Host": "c.example"}, True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://c.example", "Host": "c.example"}, False),
        ({"Sec-Fetch-Site": "same-site", "Host": "c.example"}, False),
        ({"Origin": "https://c.example", "Host": "c.example"}, True),
        ({"Origin": "https://evil.example", "Host": "c.example"}, False),
        ({"Origin": "null", "Host": "c.example"}, False),
        ({"Host": "c.example"}, False),
    ],
)  # fmt: skip
def test_only_our_own_pages_may_post_forms(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(_request(headers)) is allowed


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/html", True),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html, application/json", False),
    ],
)
def test_browsers_get_pages_and_clients_json(accept: str, html: bool) -> None:
    assert wants_html(_request({"Accept": accept} if accept else {})) is html


def test_neither_page_nor_json_is_not_acceptable() -> None:
    with pytest.raises(ApiProblem) as caught:
        wants_html(_request({"Accept": "text/csv"}))
    assert caught.value.kind.slug == "not-acceptable"
