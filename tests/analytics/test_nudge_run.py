"""The monthly neighbour comparison on a real database: figures equal what the stored readings
imply, a re-run replaces (never duplicates), a household without enough peers is withheld with
a reason, and a household that withdraws consent vanishes from every peer statistic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from analytics.nudges import Period, run_period
from analytics.trial import assign_households
from devices.types import DEVICE_TYPES
from storage import energy
from storage.connection import Conn
from storage.energy import Programme
from storage.registry import withdraw_consent
from tests.analytics.homes import city, last_month

METER = DEVICE_TYPES["smart_meter"]
PROGRAMME = Programme("camden-homes", "Camden home energy reports", min_peers=10)


async def test_comparisons_match_the_readings_and_consent_is_honoured(db: str, aconn: Conn) -> None:
    period = last_month()
    daily_kwh = {f"m-{i:02d}": 5.0 + i for i in range(14)}  # 5, 6, … 18 kWh a day
    await city(db, aconn, daily_kwh, period)
    await energy.save_programme(aconn, PROGRAMME)
    report = await run_period(aconn, PROGRAMME, period)
    assert (report.households, report.compared) == (15, 14)
    rows = {
        r["household_id"]: r
        for r in await energy.nudges(aconn, PROGRAMME.programme_id, period_start=period.start)
    }
    month = {device: per_day * period.days for device, per_day in daily_kwh.items()}
    for device, used in month.items():
        row = rows[f"hh-{device}"]
        others = [v for d, v in month.items() if d != device]
        assert row["usage_kwh"] == pytest.approx(used)
        assert row["peers"] == 13
        assert row["average_kwh"] == pytest.approx(np.mean(others), abs=0.01)
        assert row["efficient_kwh"] == pytest.approx(np.percentile(others, 20), abs=0.01)
    assert rows["hh-m-00"]["rating"] == "great" and rows["hh-m-13"]["rating"] == "above_average"
    assert rows["hh-m-00"]["figures"]["message"].startswith("Great")
    lonely = rows["hh-lonely"]
    assert lonely["status"] == "withheld" and "too few similar homes" in lonely["withheld_reason"]

    # Run again: the period's rows are replaced, not added to.
    await run_period(aconn, PROGRAMME, period)
    assert len(await energy.nudges(aconn, PROGRAMME.programme_id, period_start=period.start)) == 15

    # m-13 withdraws consent: at the next run it is in nobody's statistics.
    await aconn.execute("UPDATE devices SET consent = NULL WHERE device_id = 'm-13'")
    await run_period(aconn, PROGRAMME, period)
    rows = {
        r["household_id"]: r
        for r in await energy.nudges(aconn, PROGRAMME.programme_id, period_start=period.start)
    }
    assert "hh-m-13" not in rows
    del month["m-13"]
    for device in month:
        others = [v for d, v in month.items() if d != device]
        row = rows[f"hh-{device}"]
        assert row["peers"] == 12
        assert row["average_kwh"] == pytest.approx(np.mean(others), abs=0.01)


async def test_a_pilot_is_split_alike_whoever_else_is_registered(db: str, aconn: Conn) -> None:
    period = last_month()
    await city(db, aconn, {f"m-{i:02d}": 5.0 + i for i in range(14)}, period)
    pilot = {f"hh-m-{i:02d}" for i in range(0, 14, 2)}
    programme = Programme("pilot", "Pilot", trial=True)
    await energy.save_programme(aconn, programme)
    assert await assign_households(aconn, programme, period, seed=7, only=pilot) == 7
    arms = await energy.assignments(aconn, "pilot")
    assert set(arms) == pilot
    # The others withdraw their consent (asked again, nothing changes): a trial of everyone
    # left is split exactly as the pilot was.
    others = [f"m-{i:02d}" for i in range(1, 14, 2)] + ["m-lonely"]
    assert await withdraw_consent(aconn, others) == 8
    assert await withdraw_consent(aconn, others) == 0
    assert {h.household_id for h in await energy.households(aconn)} == pilot
    everyone = Programme("everyone", "Everyone left", trial=True)
    await energy.save_programme(aconn, everyone)
    assert await assign_households(aconn, everyone, period, seed=7) == 7
    assert await energy.assignments(aconn, "everyone") == arms


async def test_a_second_meter_claiming_a_household_is_left_out_and_said(
    db: str, aconn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    period = last_month()
    await city(db, aconn, {f"m-{i:02d}": 5.0 + i for i in range(12)}, period)
    # Another meter registered with m-03's household id (a re-registration, a data error).
    await aconn.execute(
        "INSERT INTO devices (device_id, device_type, latitude, longitude, consent, attributes)"
        " SELECT 'm-03-again', device_type, latitude, longitude, consent, attributes"
        " FROM devices WHERE device_id = 'm-03'"
    )
    await energy.save_programme(aconn, PROGRAMME)
    report = await run_period(aconn, PROGRAMME, period)  # no duplicate key: one row a home
    assert report.households == 13
    rows = await energy.nudges(aconn, PROGRAMME.programme_id, period_start=period.start)
    [row] = [r for r in rows if r["household_id"] == "hh-m-03"]
    assert row["device_id"] == "m-03" and row["peers"] == 11
    assert (
        "sharing a household_id with another meter: 1" in caplog.text
        and "m-03-again" in caplog.text
    )


def test_periods() -> None:
    october = Period.month("2026-10")
    assert (october.start, october.end, october.days) == (date(2026, 10, 1), date(2026, 11, 1), 31)
    assert Period.month("2026-12").end == date(2027, 1, 1)
