"""Meters on coarser reads (daily for a borough's population) and the trial's injected effect:
the same registers as half-hourly at the instants they report, and exactly the requested change
in exactly the treated households (no broker)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from simulators import ScenarioError, apply_options, load_scenario
from simulators.delivery import Outgoing
from simulators.engine import Simulation
from simulators.model import Household, Treatment
from simulators.plan import Plan
from simulators.runner import prepare

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()
DAY = 86_400


def _plan(interval: str, *, meters: int = 4, treatment: Treatment | None = None) -> Plan:
    scenario = apply_options(
        load_scenario("meter-year"),
        smart_meter=meters,
        weather=0,
        start="2026-02-01T00:00:00Z",
        duration="10d",
        meter_interval=interval,
    ).replace(reporting={"register_reset_rate": 0.0})
    return prepare(scenario, now=NOW, treatment=treatment)


def _readings(plan: Plan) -> dict[str, dict[int, dict[str, object]]]:
    """Device → instant → reading, for a plan run window by window as a backfill runs."""
    sim = Simulation(plan)
    assert plan.end is not None
    out: dict[str, dict[int, dict[str, object]]] = {}
    t, step = plan.start, 2.5 * DAY  # windows that end mid-day too
    while t < plan.end:
        for item in sim.window(t, min(plan.end, t + step)):
            assert isinstance(item, Outgoing)
            payload = orjson.loads(item.payload)
            for body in payload if isinstance(payload, list) else [payload]:
                ts = int(datetime.fromisoformat(body.pop("ts")).timestamp())
                body.pop("seq")
                out.setdefault(item.device_id, {})[ts] = body
        t += step
    return out


def test_daily_reads_are_the_half_hourly_registers_at_2330_utc() -> None:
    half_hourly = _readings(_plan("30m"))
    daily = _readings(_plan("1d"))
    assert daily == _readings(_plan("1d"))  # same seed, same readings
    assert daily.keys() == half_hourly.keys() and len(daily) == 4
    for device, readings in daily.items():
        stamps = sorted(readings)
        # One a day, at the day's last half-hour boundary (what a daily rollup's max would hold).
        assert [datetime.fromtimestamp(t, UTC).strftime("%d %H:%M") for t in stamps] == [
            f"{d:02d} 23:30" for d in range(1, 11)
        ]
        assert len(half_hourly[device]) == 10 * 48
        assert {t: half_hourly[device][t] for t in stamps} == readings
    hourly = _readings(_plan("1h"))
    for device, readings in hourly.items():
        assert len(readings) == 10 * 24
        assert all(t % 3600 == 1800 for t in readings)
        assert all(half_hourly[device][t] == r for t, r in readings.items())


def test_the_reporting_interval_is_a_multiple_of_30_minutes() -> None:
    for bad in ("45m", "10m", "0s"):
        with pytest.raises(ScenarioError, match=r"--meter-interval: must be a multiple of 30 min"):
            apply_options(load_scenario("smoke"), meter_interval=bad)
    scenario = load_scenario("smoke")
    with pytest.raises(ScenarioError, match=r"\[reporting\] smart_meter: must be a multiple"):
        scenario.replace(reporting={"smart_meter_s": 2700.0})
    assert apply_options(scenario, meter_interval="2d").reporting.smart_meter_s == 2 * DAY
    assert scenario.reporting.smart_meter_s == 1800.0  # half-hourly unless asked


def test_scenario_files_set_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "daily.toml"
    path.write_text('name = "daily"\n[reporting]\nsmart_meter = "1d"\n', encoding="utf-8")
    assert load_scenario(path).reporting.smart_meter_s == DAY
    path.write_text('name = "bad"\n[reporting]\nsmart_meter = "40m"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="smart_meter: must be a multiple of 30 minutes"):
        load_scenario(path)


def test_an_injected_effect_changes_exactly_the_treated_households_from_its_start() -> None:
    plan = _plan("30m", meters=6)
    homes = [d.attributes for d in plan.devices if isinstance(d.attributes, Household)]
    treated = frozenset(h.household_id for h in homes[::2])
    start = datetime(2026, 2, 5, 12, 0, tzinfo=UTC).timestamp()
    before = _readings(plan)
    after = _readings(_plan("30m", meters=6, treatment=Treatment(treated, start, change=-0.03)))
    for device in plan.devices:
        assert isinstance(device.attributes, Household)
        a, b = before[device.device_id], after[device.device_id]
        stamps = sorted(a)
        if device.attributes.household_id not in treated:
            assert a == b
            continue
        for previous, t in itertools.pairwise(stamps):
            used = _kwh(a[t]) - _kwh(a[previous])
            now = _kwh(b[t]) - _kwh(b[previous])
            if t <= start:  # half-hours that end by the start are untouched
                assert now == pytest.approx(used, abs=0.0021)
            else:
                assert now == pytest.approx(0.97 * used, abs=0.0021)  # 3-decimal registers


def _kwh(reading: dict[str, object]) -> float:
    return float(str(reading["electricity_import_kwh"]))
