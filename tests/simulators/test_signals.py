"""Signal models: plausible shapes, ranges and determinism (pure, no broker)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from simulators.model import AirSite, Bay, HeatingFuel, Household, Treatment
from simulators.signals.air import AirQualityModel, Episode, traffic
from simulators.signals.calendar import ScalarClock, local_time
from simulators.signals.energy import HouseholdModel
from simulators.signals.noise import normal, smooth, stable_key, uniform
from simulators.signals.parking import BayModel
from simulators.signals.weather import WeatherModel

LONDON = ZoneInfo("Europe/London")
JAN_2026 = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday
DAY = 86_400.0


def weather(seed: int = 7) -> WeatherModel:
    return WeatherModel(seed, LONDON)


def test_stable_key_is_the_same_in_every_process() -> None:
    # Pinned: a change here changes every simulated signal.
    assert stable_key(7, "dev-1", "no2") == 13798938318251414725
    assert stable_key(7, "dev-1", "no2") != stable_key(8, "dev-1", "no2")


def test_counter_noise_is_uniform_normal_and_smooth() -> None:
    u = uniform(1, np.arange(100_000))
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    z = normal(2, np.arange(100_000))
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02
    t = np.arange(0, 30 * DAY, 600.0)
    s = smooth(3, t, DAY)
    assert abs(s.std() - 1.0) < 0.3
    assert np.abs(np.diff(s)).max() < 0.2  # no jumps between 10-minute samples
    assert np.array_equal(uniform(1, [5, 6]), uniform(1, np.array([5, 6])))


def test_local_time_follows_daylight_saving() -> None:
    summer = datetime(2026, 7, 1, 7, 0, tzinfo=UTC).timestamp()
    winter = datetime(2026, 1, 6, 7, 0, tzinfo=UTC).timestamp()
    lt = local_time([summer, winter], LONDON)
    assert list(lt.hour) == [8.0, 7.0]
    assert list(lt.weekday) == [2, 1]  # Wednesday, Tuesday


def test_weather_is_london_like() -> None:
    t = JAN_2026 + np.arange(0, 365 * DAY, 1800.0)
    w = weather().at(t)
    january = w.temperature_c[: 31 * 48].mean()
    july = w.temperature_c[181 * 48 : 212 * 48].mean()
    assert 1.0 < january < 9.0 and 15.0 < july < 23.0
    assert w.temperature_c.min() >= -50.0 and w.temperature_c.max() <= 60.0
    assert w.humidity_pct.min() >= 0.0 and w.humidity_pct.max() <= 100.0
    assert w.wind_speed_ms.min() >= 0.0 and w.wind_speed_ms.max() <= 75.0
    rain = weather().rainfall_mm(t, 1800.0)
    assert 300.0 < rain.sum() < 1200.0 and rain.max() <= 500.0


def _aq(site: str, seed: int = 7, episodes: tuple[Episode, ...] = ()) -> AirQualityModel:
    return AirQualityModel(f"aq-{site}", AirSite(site, 2.0), seed, weather(seed), None, episodes)  # type: ignore[arg-type]


def test_roadside_no2_exceeds_background_and_peaks_in_rush_hour() -> None:
    t = JAN_2026 + np.arange(0, 28 * DAY, 900.0)
    roadside = _aq("roadside").sample(t)["no2"]
    background = _aq("urban_background").sample(t)["no2"]
    assert roadside.mean() > background.mean() + 8.0
    lt = local_time(t, LONDON)
    weekday = lt.weekday < 5
    rush = roadside[weekday & (lt.hour >= 7.5) & (lt.hour < 9.0)].mean()
    night = roadside[weekday & (lt.hour >= 2.0) & (lt.hour < 4.0)].mean()
    assert rush > 1.4 * night


def test_ozone_peaks_in_the_afternoon_and_pm_has_multi_day_episodes() -> None:
    t = JAN_2026 + 120 * DAY + np.arange(0, 120 * DAY, 900.0)  # May to August
    values = _aq("urban_background").sample(t)
    lt = local_time(t, LONDON)
    afternoon = values["o3"][(lt.hour >= 13) & (lt.hour < 17)].mean()
    early = values["o3"][(lt.hour >= 4) & (lt.hour < 7)].mean()
    assert afternoon > early + 5.0
    year = JAN_2026 + np.arange(0, 365 * DAY, 3600.0)
    daily = _aq("urban_background").sample(year)["pm25"].reshape(-1, 24).mean(axis=1)
    high = daily > 2 * np.median(daily)
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], high.astype(int), [0]]))))[::2]
    assert runs.size > 0 and runs.max() >= 2  # episodes last days, not hours


def test_an_episode_raises_no2_and_pm_only_while_it_lasts() -> None:
    t = JAN_2026 + np.arange(0, 6 * DAY, 600.0)
    episode = Episode(JAN_2026 + 2 * DAY, JAN_2026 + 4 * DAY, no2_factor=3.0, pm25_add=30.0)
    plain = _aq("roadside").sample(t)
    polluted = _aq("roadside", episodes=(episode,)).sample(t)
    inside = (t >= episode.start + episode.ramp) & (t < episode.end - episode.ramp)
    outside = (t < episode.start) | (t >= episode.end)
    assert polluted["no2"][inside].mean() > 1.8 * plain["no2"][inside].mean()
    assert polluted["pm25"][inside].mean() > plain["pm25"][inside].mean() + 25.0
    assert np.array_equal(polluted["no2"][outside], plain["no2"][outside])


def test_traffic_has_weekday_rush_hours_and_flatter_weekends() -> None:
    monday = JAN_2026 + np.arange(0, DAY, 900.0)
    flow_weekday = traffic(local_time(monday, LONDON))
    flow_sunday = traffic(local_time(monday + 6 * DAY, LONDON))
    assert flow_weekday[8 * 4 + 1] > 2 * flow_weekday[3 * 4]  # 08:15 vs 03:00
    assert flow_weekday.max() > flow_sunday.max()


def test_signals_depend_only_on_seed_device_and_instant() -> None:
    t = JAN_2026 + np.arange(0, DAY, 300.0)
    whole = _aq("kerbside").sample(t)
    parts = [_aq("kerbside").sample(chunk) for chunk in np.array_split(t, 7)]
    for name, values in whole.items():
        assert np.array_equal(values, np.concatenate([p[name] for p in parts]))
    assert not np.array_equal(whole["no2"], _aq("kerbside", seed=8).sample(t)["no2"])


def _household(fuel: HeatingFuel, seed: int = 7) -> HouseholdModel:
    household = Household("hh", "semi", "50-100", fuel, "3-4")
    return HouseholdModel(f"meter-{fuel}", household, seed, weather(seed))


def test_household_profile_has_baseload_and_evening_peak() -> None:
    ends = JAN_2026 + 1800.0 * np.arange(1, 28 * 48 + 1)
    kwh = _household("gas").consumption(ends).electricity_kwh
    lt = local_time(ends - 900.0, LONDON)
    evening = kwh[(lt.hour >= 18) & (lt.hour < 21)].mean()
    night = kwh[(lt.hour >= 2) & (lt.hour < 5)].mean()
    assert night > 0.03  # the fridge never stops
    assert evening > 2.0 * night
    year = JAN_2026 + 1800.0 * np.arange(1, 365 * 48 + 1)
    annual = _household("gas").consumption(year)
    assert 2_000 < annual.electricity_kwh.sum() < 6_000  # Ofgem medium is 2,700 kWh
    assert annual.gas_m3 is not None
    assert 8_000 < annual.gas_m3.sum() * 11.22 < 20_000  # and 11,500 kWh of gas


@pytest.mark.parametrize("fuel", ["gas", "electric"])
def test_heating_load_is_higher_on_colder_days(fuel: HeatingFuel) -> None:
    ends = JAN_2026 + 1800.0 * np.arange(1, 365 * 48 + 1)
    model = _household(fuel)
    use = model.consumption(ends)
    energy = use.gas_m3 if fuel == "gas" and use.gas_m3 is not None else use.electricity_kwh
    daily = energy.reshape(-1, 48).sum(axis=1)
    temperature = model.weather.at(ends - 900.0).temperature_c.reshape(-1, 48).mean(axis=1)
    assert np.corrcoef(daily, temperature)[0, 1] < -0.6
    cold, mild = daily[temperature < 5.0].mean(), daily[temperature > 16.0].mean()
    assert cold > 2.0 * mild


def _occupancy(restriction: str, days: int = 14, bays: int = 30) -> dict[str, float]:
    clock = ScalarClock(LONDON)
    totals: dict[str, list[int]] = {"controlled": [], "night": []}
    for i in range(bays):
        bay = Bay(f"b{i}", restriction=restriction, max_stay_minutes=120)  # type: ignore[arg-type]
        model = BayModel(f"bay-{i}", bay, 7, clock)
        events = model.events(JAN_2026, JAN_2026 + days * DAY)
        state, j = events[0].occupied, 0
        for k in range(days * 96):
            t = JAN_2026 + k * 900.0
            while j < len(events) and events[j].ts <= t:
                state, j = events[j].occupied, j + 1
            weekday, hour = clock.weekday_hour(t)
            if weekday < 5 and 10 <= hour < 17:
                totals["controlled"].append(state)
            elif 1 <= hour < 5:
                totals["night"].append(state)
    return {k: sum(v) / len(v) for k, v in totals.items()}


def test_pay_and_display_bays_fill_up_in_controlled_weekday_hours() -> None:
    occupancy = _occupancy("pay_and_display")
    assert occupancy["controlled"] > occupancy["night"] + 0.15
    assert 0.5 < occupancy["controlled"] < 0.95


def test_bay_sessions_have_realistic_dwell_and_some_overstays() -> None:
    clock = ScalarClock(LONDON)
    dwell, overstays = [], 0
    for i in range(40):
        bay = Bay(f"b{i}", restriction="pay_and_display", max_stay_minutes=120)
        events = [
            e
            for e in BayModel(f"bay-{i}", bay, 7, clock, flicker_rate=0.0).events(
                JAN_2026 + 9 * 3600, JAN_2026 + 9 * 3600 + 5 * DAY
            )
            if not e.heartbeat
        ]
        arrived = None
        for e in events:
            if e.occupied and arrived is None:
                arrived = e.ts
            elif not e.occupied and arrived is not None:
                weekday, hour = clock.weekday_hour(arrived)
                if weekday < 5 and 9 <= hour < 16:
                    minutes = (e.ts - arrived) / 60
                    dwell.append(minutes)
                    overstays += minutes > 130
                arrived = None
    assert 30 < float(np.median(dwell)) < 100
    assert 0.05 < overstays / len(dwell) < 0.35


def test_bay_events_do_not_depend_on_windowing() -> None:
    clock = ScalarClock(LONDON)
    bay = Bay("b", restriction="loading", max_stay_minutes=30)
    whole = BayModel("bay-x", bay, 7, clock).events(JAN_2026, JAN_2026 + 3 * DAY)
    stepped = BayModel("bay-x", bay, 7, clock)
    pieces = [
        e
        for k in range(3 * 24)
        for e in stepped.events(JAN_2026 + k * 3600.0, JAN_2026 + (k + 1) * 3600.0)
    ]
    assert [(e.ts, e.occupied) for e in whole] == [(e.ts, e.occupied) for e in pieces]
    assert all(a.ts < b.ts for a, b in itertools.pairwise(whole))


def test_a_treatment_scales_the_treated_households_use_from_its_start() -> None:
    ends = JAN_2026 + 1800.0 * np.arange(1, 4 * 48 + 1)
    start = JAN_2026 + 2 * DAY
    household = Household("hh-treated", "semi", "50-100", "gas", "3-4")
    treatment = Treatment(frozenset({"hh-treated"}), start=start, change=-0.03)
    plain = HouseholdModel("meter-1", household, 7, weather()).consumption(ends)
    nudged = HouseholdModel("meter-1", household, 7, weather(), treatment=treatment).consumption(
        ends
    )
    assert plain.gas_m3 is not None and nudged.gas_m3 is not None
    before, after = ends - 1800.0 < start, ends - 1800.0 >= start
    assert after.sum() == 2 * 48  # the half-hours starting at or after the start
    for a, b in [
        (plain.electricity_kwh, nudged.electricity_kwh),
        (plain.gas_m3, nudged.gas_m3),
        (plain.heat_kwh, nudged.heat_kwh),
    ]:
        assert np.array_equal(a[before], b[before])
        np.testing.assert_allclose(b[after], 0.97 * a[after], rtol=1e-12)


def test_households_outside_a_treatment_are_unchanged() -> None:
    ends = JAN_2026 + 1800.0 * np.arange(1, 3 * 48 + 1)
    household = Household("hh-control", "flat", "<50", "electric", "1")
    treatment = Treatment(frozenset({"someone-else"}), start=JAN_2026, change=-0.5)
    plain = HouseholdModel("meter-2", household, 7, weather()).consumption(ends)
    other = HouseholdModel("meter-2", household, 7, weather(), treatment=treatment).consumption(
        ends
    )
    assert np.array_equal(plain.electricity_kwh, other.electricity_kwh)
    assert plain.gas_m3 is None and other.gas_m3 is None
    with pytest.raises(ValueError, match="negative"):
        Treatment(frozenset({"x"}), start=0.0, change=-1.0)
