"""Scenario files, time expressions and the platform's time limits; and every bundled scenario
registered through the real command."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from simulators import ScenarioError, apply_options, bundled_scenarios, load_scenario
from simulators.clock import SimClock
from simulators.device_list import load_devices
from simulators.plan import build_plan
from simulators.timetext import parse_duration, parse_instant
from tests.cli_harness import civicpulse

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()
LONDON = ZoneInfo("Europe/London")


def test_durations_and_instants() -> None:
    assert parse_duration("1d12h") == 129_600
    assert parse_duration("90s") == 90 and parse_duration(15) == 15
    with pytest.raises(ScenarioError):
        parse_duration("3 fortnights")
    assert parse_instant("now-2h", now=NOW, tz=LONDON) == NOW - 7200
    assert parse_instant("+2d", now=NOW, tz=LONDON, start=100.0) == 100.0 + 172_800
    assert (
        parse_instant("today+8h", now=NOW, tz=LONDON)
        == datetime(2026, 3, 10, 8, tzinfo=UTC).timestamp()
    )
    assert (
        parse_instant("2026-01-01T00:00:00+01:00", now=NOW, tz=LONDON)
        == datetime(2025, 12, 31, 23, tzinfo=UTC).timestamp()
    )
    with pytest.raises(ScenarioError, match="UTC offset"):
        parse_instant("2026-01-01T00:00:00", now=NOW, tz=LONDON)


def test_every_bundled_scenario_loads_and_resolves() -> None:
    names = bundled_scenarios()
    assert {"smoke", "pollution-episode", "match-day-parking", "meter-year", "city-live"} <= set(
        names
    )
    for name in names:
        plan = build_plan(load_scenario(name), now=NOW)
        assert plan.devices


def test_typos_in_scenarios_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[time]\nmode = "backfill"\nstrat = "now-1h"\n')
    with pytest.raises(ScenarioError, match="strat"):
        load_scenario(path)
    path.write_text('[[events]]\nkind = "parking_surge"\nstart = "+1h"\ndemand = 3\n')
    with pytest.raises(ScenarioError, match="demand"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="bundled"):
        load_scenario("no-such-scenario")


def test_time_window_respects_the_platform_limits() -> None:
    scenario = load_scenario("smoke")
    with pytest.raises(ScenarioError, match="400 days"):
        build_plan(apply_options(scenario, start="now-401d", duration="1d"), now=NOW)
    with pytest.raises(ScenarioError, match="end by now"):
        build_plan(apply_options(scenario, start="now-1h", duration="2h"), now=NOW)
    plan = build_plan(
        apply_options(scenario, mode="accelerated", speed=60, start="now-1d", duration="2d"),
        now=NOW,
    )
    assert plan.speed == 60 and plan.end == plan.start + 2 * 86_400


def test_simulated_time_never_runs_ahead_of_the_wall_clock() -> None:
    wall = [NOW]
    clock = SimClock(NOW - 3600, 60.0, NOW + 3600, wall=lambda: wall[0])
    wall[0] += 30  # 30 wall seconds at x60: 30 simulated minutes
    assert clock.now() == NOW - 1800
    wall[0] += 600  # caught up: now runs in real time
    assert clock.now() == wall[0]
    backfill = SimClock(NOW - 3600, math.inf, NOW, wall=lambda: wall[0])
    assert backfill.now() == NOW


def test_options_override_the_scenario() -> None:
    scenario = apply_options(
        load_scenario("smoke"),
        seed=3,
        smart_meter=50,
        mode="accelerated",
        duration="1d",
        connection="per-device",
    )
    assert scenario.seed == 3
    assert scenario.fleet.counts["smart_meter"] == 50 and scenario.fleet.counts["air_quality"] == 6
    assert scenario.time.mode == "accelerated" and scenario.time.duration == 86_400
    assert scenario.publish.connection == "per-device"


def test_device_list_file_with_registry_attributes(tmp_path: Path) -> None:
    path = tmp_path / "devices.csv"
    path.write_text(
        "device_id,device_type,name,latitude,longitude,zone,attributes\n"
        'm1,smart_meter,,51.53,-0.13,ward-01,"{""heating_fuel"": ""electric"", ""occupants_band"": ""5+""}"\n'
        'b1,parking_bay,,51.54,-0.14,CA-B,"{""restriction"": ""loading"", ""max_stay_minutes"": 20}"\n'
        "a1,air_quality,,51.52,-0.12,ward-02,\n"
    )
    devices = load_devices(path)
    assert [d.device_id for d in devices] == ["m1", "b1", "a1"]
    assert devices[0].attributes.heating_fuel == "electric"  # type: ignore[union-attr]
    assert devices[1].attributes.max_stay_minutes == 20  # type: ignore[union-attr]
    record = devices[0].record()
    assert record["attributes"]["household_id"] == "m1"
    path.write_text(
        'device_id,device_type,latitude,longitude,attributes\nm1,smart_meter,51,0,"{""heating_fuel"": ""coal""}"\n'
    )
    with pytest.raises(ScenarioError, match="heating_fuel"):
        load_devices(path)


@pytest.mark.parametrize("name", bundled_scenarios())
def test_every_bundled_scenario_registers_its_fleet(db: str, mqtt_url: str, name: str) -> None:
    """`civicpulse simulate --scenario NAME --register`, as the README and docs show it."""
    env = {
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_MQTT_PROTOCOL": os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5"),
    }
    if name == "smoke":  # the README's own example: registered and published in full
        args: tuple[str, ...] = ("--quiet",)
    else:  # a short window of each, generated but not published (city-live is 10,000 devices)
        args = ("--quiet", "--dry-run", "--mode", "backfill", "--start", "now-10m")
        args += ("--duration", "10m")
    result = civicpulse("simulate", "--scenario", name, "--register", *args, env=env)
    assert result.returncode == 0, result.stderr
    registered = int(result.stdout.split(f"{name}: ")[1].split(" devices")[0].replace(",", ""))
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM devices").fetchone()
    assert row is not None and row[0] == registered > 0
