"""``/v1/energy``: a household's reports to its own resident key only (officers 403, another
household 404), officers' ward statistics k-anonymous with exact figures, and trial results as
``civicpulse analytics trial estimate`` saved them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import pytest

from analytics.energy import Effect
from api import create_app
from storage import trials
from storage.connection import connect
from tests.api.conftest import bearer, config, serving
from tests.api.energy_city import (
    DELIVERED,
    EARLIER_REASON,
    OTHER,
    OWN,
    PROGRAMME,
    EnergyCity,
    earlier,
    energy_database,
)
from tests.cli_harness import civicpulse, one_clear_line


@pytest.fixture(scope="module")
def street(pg_server: str) -> Iterator[EnergyCity]:
    """Read-only: tests that write use ``fresh_street``."""
    yield from energy_database(pg_server)


@pytest.fixture
def fresh_street(pg_server: str) -> Iterator[EnergyCity]:
    yield from energy_database(pg_server)


@pytest.fixture
async def client(street: EnergyCity) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(config(street.url))) as c:
        yield c


def _reports(household: str) -> str:
    return f"/v1/energy/households/{household}/reports"


async def test_a_resident_reads_its_own_reports(
    street: EnergyCity, client: httpx.AsyncClient
) -> None:
    days = street.period.days
    own = bearer(street.keys["resident"])
    page = (await client.get(_reports(OWN), headers=own)).json()
    assert page["household_id"] == OWN and page["links"] == {"next": None}
    latest, older = page["items"]
    others = [(5.0 + i) * days for i in range(1, 25)]
    assert latest["period_start"] == street.period.start.isoformat()
    assert (latest["status"], latest["rating"], latest["peers"]) == ("ready", "great", 24)
    assert latest["usage_kwh"] == pytest.approx(5.0 * days)
    assert latest["average_kwh"] == pytest.approx(np.mean(others), abs=0.01)
    assert latest["efficient_kwh"] == pytest.approx(np.percentile(others, 20), abs=0.01)
    assert older["period_start"] == earlier(street.period).start.isoformat()
    assert (older["status"], older["withheld_reason"]) == ("withheld", EARLIER_REASON)

    one = await client.get(_reports(OWN) + "?limit=1", headers=own)
    assert [i["period_start"] for i in one.json()["items"]] == [latest["period_start"]]
    rest = await client.get(one.json()["links"]["next"], headers=own)
    assert rest.json()["items"] == [older] and rest.json()["links"]["next"] is None

    csv = await client.get(_reports(OWN) + "?format=csv", headers=own)
    lines = csv.text.splitlines()
    assert lines[0].startswith("programme_id,period,period_start,period_end,status,rating")
    assert lines[1].startswith(f"home-energy-reports,{street.period.label()},")


async def test_a_report_in_full_says_what_the_letter_says(
    street: EnergyCity, client: httpx.AsyncClient
) -> None:
    month = f"{street.period.start:%Y-%m}"
    detail = await client.get(f"{_reports(OWN)}/{month}", headers=bearer(street.keys["resident"]))
    assert detail.status_code == 200
    body = detail.json()
    message = body["message"]
    assert message.startswith(f"Your home energy report for {street.period.label()}\n\n")
    assert "Great: you used less than your efficient neighbours. Keep it up!" in message
    assert f"Your home used {5 * street.period.days:,.0f} kWh." in message
    assert message.endswith(f"visit http://testserver/residents/{street.tokens[OWN]}")
    withheld = await client.get(
        f"{_reports(OWN)}/{earlier(street.period).start:%Y-%m}",
        headers=bearer(street.keys["resident"]),
    )
    assert withheld.json()["message"] is None
    missing = await client.get(f"{_reports(OWN)}/2001-01", headers=bearer(street.keys["resident"]))
    assert missing.status_code == 404


@pytest.mark.parametrize("suffix", ["", "/2026-10"])
async def test_nobody_else_reads_a_households_consumption(
    street: EnergyCity, client: httpx.AsyncClient, suffix: str
) -> None:
    expected = {
        "public": (401, "unauthenticated"),
        "developer": (403, "forbidden"),
        "officer": (403, "household-data"),
        "admin": (403, "household-data"),
        "resident-other": (404, "not-found"),
    }
    for household in (OWN, "hh-nobody"):  # one that exists, one that does not: the same answer
        for label, (status, kind) in expected.items():
            headers = {} if label == "public" else bearer(street.keys[label])
            answer = await client.get(_reports(household) + suffix, headers=headers)
            assert (answer.status_code, answer.json()["type"]) == (
                status,
                f"/v1/problems/{kind}",
            ), label
            assert "kwh" not in answer.text.lower()
    other = await client.get(_reports(OTHER), headers=bearer(street.keys["resident-other"]))
    assert other.status_code == 200 and other.json()["items"][0]["rating"] == "above_average"


async def test_officers_see_wards_k_anonymous(
    street: EnergyCity, client: httpx.AsyncClient
) -> None:
    days = street.period.days
    answer = await client.get("/v1/energy/statistics", headers=bearer(street.keys["officer"]))
    assert answer.status_code == 200
    body = answer.json()
    month, before = street.period.start.isoformat(), earlier(street.period).start.isoformat()
    hidden = dict.fromkeys(
        ("households", "compared", "delivered", "withheld", "usage_kwh_total", "usage_kwh_mean")
    )
    assert body["items"] == [
        # The earlier month: one household, without a measured use.
        {"month": before, "zone_id": "ward-a", **hidden, "suppressed": "few_contributors"},
        {
            "month": month,
            "zone_id": "ward-a",
            "households": 11,
            "compared": 11,
            "delivered": 0,
            "withheld": {},
            "usage_kwh_total": pytest.approx(110.0 * days),
            "usage_kwh_mean": pytest.approx(10.0 * days),
            "suppressed": None,
        },
        {"month": month, "zone_id": "ward-b", **hidden, "suppressed": "few_contributors"},
        {
            "month": month,
            "zone_id": "ward-c",
            "households": 11,
            "compared": 11,
            "delivered": 1,
            "withheld": {},
            "usage_kwh_total": pytest.approx(264.0 * days),
            "usage_kwh_mean": pytest.approx(24.0 * days),
            "suppressed": None,
        },
    ]
    assert DELIVERED == "hh-m-20"  # flat 20 is in ward C
    # Ward B's three homes are withheld, so no month total: it less A and C would be B.
    assert body["totals"] == [
        {"month": before, "zone_id": None, **hidden, "suppressed": "few_contributors"},
        {"month": month, "zone_id": None, **hidden, "suppressed": "complementary"},
    ]
    csv = await client.get("/v1/energy/statistics?format=csv", headers=bearer(street.keys["admin"]))
    rows = csv.text.splitlines()
    assert rows[0] == (
        "month,zone_id,households,compared,delivered,withheld,usage_kwh_total,usage_kwh_mean,"
        "suppressed"
    )
    assert rows[2] == f"{month},ward-a,11,11,0,,{110.0 * days},{10.0 * days},"
    assert rows[3] == f"{month},ward-b,,,,,,,few_contributors"
    for label, status in (("resident", 403), ("developer", 403)):
        refused = await client.get("/v1/energy/statistics", headers=bearer(street.keys[label]))
        assert refused.status_code == status
    assert (await client.get("/v1/energy/statistics")).status_code == 401


def _effect(relative: float, treated: int, control: int) -> Effect:
    return Effect(
        relative=relative,
        relative_ci=(relative - 0.01, relative + 0.01),
        absolute=-5.5,
        absolute_ci=(-9.0, -2.0),
        p_value=0.004,
        treated=treated,
        control=control,
        excluded=1,
        confidence=0.95,
    )


async def test_trial_results_as_stored(fresh_street: EnergyCity) -> None:
    period, before = fresh_street.period, earlier(fresh_street.period)
    async with await connect(fresh_street.url, autocommit=True) as conn:
        await trials.save_estimate(
            conn,
            PROGRAMME.programme_id,
            pre=(before.start, before.end),
            post=(period.start, period.end),
            households=26,
            programme=_effect(-0.021, 12, 13),
            zones={"ward-a": _effect(-0.05, 5, 6), "ward-b": None},
        )
    async with serving(create_app(config(fresh_street.url))) as client:
        answer = await client.get("/v1/energy/trials", headers=bearer(fresh_street.keys["officer"]))
        for label in ("resident", "developer"):
            refused = await client.get(
                "/v1/energy/trials", headers=bearer(fresh_street.keys[label])
            )
            assert refused.status_code == 403
    (result,) = answer.json()["items"]
    assert (result["pre_start"], result["post_end"]) == (
        before.start.isoformat(),
        period.end.isoformat(),
    )
    assert result["households"] == 26
    assert result["programme"] == {
        "area": "programme",
        "relative": -0.021,
        "relative_ci": [pytest.approx(-0.031), pytest.approx(-0.011)],
        "absolute_kwh": -5.5,
        "absolute_ci_kwh": [-9.0, -2.0],
        "p_value": 0.004,
        "treated": 12,
        "control": 13,
        "excluded": 1,
        "confidence": 0.95,
        "withheld": None,
    }
    ward_a, ward_b = result["zones"]
    # Five treated homes in ward A: counts only.
    assert (ward_a["area"], ward_a["relative"], ward_a["treated"], ward_a["withheld"]) == (
        "ward-a",
        None,
        5,
        "few_contributors",
    )
    assert (ward_b["area"], ward_b["treated"], ward_b["withheld"]) == (
        "ward-b",
        None,
        "too_few_households",
    )


async def test_the_estimate_command_saves_what_the_api_serves(fresh_street: EnergyCity) -> None:
    env = {"CIVICPULSE_DATABASE_URL": fresh_street.url}
    month, before = (
        f"{fresh_street.period.start:%Y-%m}",
        f"{earlier(fresh_street.period).start:%Y-%m}",
    )
    assign = await asyncio.to_thread(
        civicpulse, "analytics", "trial", "assign", "--baseline", month, "--seed", "7", env=env
    )
    assert assign.returncode == 0, assign.stderr
    run = ("analytics", "trial", "estimate", "--pre", before, "--post", month)
    estimate = await asyncio.to_thread(civicpulse, *run, env=env)
    assert estimate.returncode == 0, estimate.stderr
    assert "26 households in the trial" in estimate.stdout, estimate.stdout
    assert "saved: officers read it at /v1/energy/trials" in estimate.stdout
    again = await asyncio.to_thread(civicpulse, *run, env=env)  # replaces, never adds
    assert again.returncode == 0, again.stderr
    async with serving(create_app(config(fresh_street.url))) as client:
        answer = await client.get("/v1/energy/trials", headers=bearer(fresh_street.keys["admin"]))
    (result,) = answer.json()["items"]
    assert result["households"] == 26
    assert result["post_start"] == fresh_street.period.start.isoformat()
    areas = {z["area"] for z in result["zones"]}
    assert areas == {"ward-a", "ward-b", "ward-c", "-"}
    # Each line the command printed for an area matches what the API withholds or shows.
    for effect in [result["programme"], *result["zones"]]:
        name = effect["area"]
        line = next(x for x in estimate.stdout.splitlines() if x.strip().startswith(f"{name}:"))
        if "too few households" in line:
            assert effect["withheld"] == "too_few_households"
        else:
            assert effect["treated"] is not None and f"{effect['treated']} treated" in line


def test_the_estimate_command_refuses_periods_out_of_order() -> None:
    # Refused before any database is reached.
    result = civicpulse(
        "analytics",
        "trial",
        "estimate",
        "--pre",
        "2026-10",
        "--post",
        "2026-09",
        env={"CIVICPULSE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/unused"},
    )
    one_clear_line(result, 2, "--post", "2026-09 must come after --pre 2026-10")
