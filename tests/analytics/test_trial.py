"""The nudge trial: stratified assignment, and a DiD estimator that is unbiased and covers."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy import stats

from analytics.energy import (
    GAS,
    assign,
    daily,
    day_grid,
    effects_by,
    estimate_effect,
    fit_prism,
    gas_m3_to_kwh_array,
    normal_degree_days,
    normalise,
    strata,
)
from simulators.model import Household, Treatment
from simulators.signals.energy import HouseholdModel
from simulators.signals.weather import WeatherModel

TRUE_EFFECT = -0.03


# Assignment --------------------------------------------------------------------------------


def test_assignment_is_balanced_within_every_stratum_and_seeded() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 1001)
    treated = assign(labels, seed=42)
    for s in range(7):
        members = treated[labels == s]
        assert abs(int(members.sum()) - int((~members).sum())) <= 1
    assert np.array_equal(treated, assign(labels, seed=42))
    assert not np.array_equal(treated, assign(labels, seed=43))
    # Odd strata give their extra household to either arm at random, not always to one.
    extras = Counter(
        bool(assign(np.zeros(5, dtype=np.int64), seed=seed).sum() == 3) for seed in range(200)
    )
    assert 70 < extras[True] < 130


def test_assignment_with_another_share() -> None:
    labels = np.repeat(np.arange(4), 10)
    treated = assign(labels, seed=1, share=0.3)
    assert [int(treated[labels == s].sum()) for s in range(4)] == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="share"):
        assign(labels, seed=1, share=1.0)


def test_strata_are_fuel_by_type_by_usage_quartile() -> None:
    fuel = np.array(["gas"] * 8 + ["electric"] * 4)
    kind = np.array(["semi"] * 4 + ["flat"] * 4 + ["flat"] * 4)
    usage = np.array([10, 40, 20, 30, 5, 7, 6, np.nan, 1, 2, 3, 4], dtype=np.float64)
    s = strata(fuel, kind, usage=usage, quantiles=4)
    # Gas semis: one per quartile; gas flats: three quartiles of three values and "no usage".
    assert len(set(s[:4])) == 4 and len(set(s[4:8])) == 4 and len(set(s[8:])) == 4
    assert len(set(s)) == 12
    assert s[0] != s[4]  # different types never share a stratum
    two = strata(fuel, kind, usage=usage, quantiles=2)
    assert two[0] == two[2] and two[1] == two[3] and two[0] != two[1]  # 10, 20 | 30, 40
    assert len(set(strata(fuel, kind))) == 3


# Estimation --------------------------------------------------------------------------------


def test_the_estimate_is_welchs_two_sample_comparison_of_changes() -> None:
    pre = np.array([10.0, 12.0, 8.0, 11.0, 9.0, 10.5, 12.5, 7.5])
    post = np.array([9.6, 11.5, 7.9, 10.4, 9.1, 10.4, 12.6, 7.4])
    treated = np.array([True, True, True, True, False, False, False, False])
    effect = estimate_effect(pre, post, treated)
    assert effect is not None
    change = np.log(post) - np.log(pre)
    welch = stats.ttest_ind(change[treated], change[~treated], equal_var=False)
    low, high = welch.confidence_interval(0.95)
    assert effect.relative == pytest.approx(
        np.expm1(change[treated].mean() - change[~treated].mean())
    )
    assert effect.relative_ci == pytest.approx((np.expm1(low), np.expm1(high)))
    assert effect.p_value == pytest.approx(welch.pvalue)
    levels = stats.ttest_ind((post - pre)[treated], (post - pre)[~treated], equal_var=False)
    assert effect.absolute_ci == pytest.approx(tuple(levels.confidence_interval(0.95)))
    assert (effect.treated, effect.control, effect.excluded) == (4, 4, 0)


def test_households_without_usable_values_are_excluded_and_small_arms_give_nothing() -> None:
    pre = np.array([10.0, np.nan, 8.0, 0.0, 9.0, 10.5, 12.5])
    post = np.array([9.6, 11.5, 7.9, 10.4, 9.1, 10.4, 12.6])
    treated = np.array([True, True, True, True, False, False, False])
    effect = estimate_effect(pre, post, treated)
    assert effect is not None and effect.excluded == 2 and effect.treated == 2
    assert estimate_effect(pre, post, treated, min_per_arm=3) is None


def _simulated_trials(
    trials: int, households: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre and post weather-normalised use of many trials at once (trials x households).

    Homes differ threefold in level (lognormal, sd 0.5); each home's normalised use moves 10 %
    (sd) between periods for its own reasons; a common shift of +4 % hits everyone; treated homes
    use 3 % less after the nudges start.
    """
    rng = np.random.default_rng(seed)
    level = np.exp(rng.normal(np.log(300.0), 0.5, (trials, households)))
    fuel = rng.integers(0, 2, (trials, households))
    kind = rng.integers(0, 4, (trials, households))
    pre = level * np.exp(rng.normal(0.0, 0.10, level.shape))
    post = level * 1.04 * np.exp(rng.normal(0.0, 0.10, level.shape))
    treated = np.zeros(level.shape, dtype=np.bool_)
    for t in range(trials):
        treated[t] = assign(strata(fuel[t], kind[t], usage=pre[t]), seed=1000 + t)
    post = np.where(treated, post * (1.0 + TRUE_EFFECT), post)
    return pre, post, treated


def test_the_estimator_is_unbiased_and_its_interval_covers_95_percent() -> None:
    pre, post, treated = _simulated_trials(trials=200, households=400, seed=2026)
    estimates, covered = [], 0
    for t in range(pre.shape[0]):
        effect = estimate_effect(pre[t], post[t], treated[t])
        assert effect is not None
        estimates.append(effect.relative)
        low, high = effect.relative_ci
        covered += low <= TRUE_EFFECT <= high
    assert np.mean(estimates) == pytest.approx(TRUE_EFFECT, abs=0.003)
    assert 0.90 <= covered / pre.shape[0] <= 0.99
    # The spread of the estimates is what the intervals claim: each household's log change has
    # sd 0.1·√2, so the difference of two arms of 200 has sd 0.1·√2·√(2/200) ≈ 0.014.
    assert 0.011 < np.std(estimates) < 0.017


def test_effects_per_zone() -> None:
    rng = np.random.default_rng(8)
    n = 3000
    zone = rng.choice(["north", "south", "tiny"], n, p=[0.5, 0.4985, 0.0015])
    pre = np.exp(rng.normal(np.log(300.0), 0.5, n))
    post = pre * np.exp(rng.normal(0.0, 0.05, n))
    treated = assign(zone, seed=5)
    true = {"north": -0.06, "south": 0.0}
    for z, e in true.items():
        post = np.where(treated & (zone == z), post * (1.0 + e), post)
    effects = effects_by(zone.tolist(), pre, post, treated, min_per_arm=5)
    for z, e in true.items():
        found = effects[z]
        assert found is not None
        assert found.relative_ci[0] <= e <= found.relative_ci[1]
        assert abs(found.relative - e) < 0.01
    assert effects["tiny"] is None  # a handful of homes: no estimate


# End to end through the simulated meters ---------------------------------------------------

LONDON = ZoneInfo("Europe/London")
HISTORY = (date(2025, 10, 1), date(2026, 1, 31))
PRE = (date(2026, 1, 1), date(2026, 1, 31))
POST = (date(2026, 2, 1), date(2026, 2, 28))
NUDGES_START = datetime(2026, 2, 1, tzinfo=LONDON).timestamp()


def _daily_weather(weather: WeatherModel, first: date, last: date) -> tuple[np.ndarray, ...]:
    grid = day_grid(first, last)
    t = np.arange(grid.bounds[0], grid.bounds[-1], 1800) + 900.0
    temperature = weather.at(t).temperature_c
    day = np.searchsorted(grid.bounds, t, side="right") - 1
    tmax = np.array([temperature[day == d].max() for d in range(len(grid.days))])
    tmin = np.array([temperature[day == d].min() for d in range(len(grid.days))])
    return tmax, tmin


def _normalised_trial(
    homes: list[Household], treatment: Treatment | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post weather-normalised daily use (kWh) of simulated gas homes, from registers."""
    weather = WeatherModel(seed, LONDON)
    grid = day_grid(HISTORY[0], POST[1])
    ends = np.arange(grid.bounds[0] + 1800, grid.bounds[-1] + 1, 1800, dtype=np.float64)
    ts = np.r_[ends[0] - 1800, ends]
    use = np.empty((len(homes), len(grid.days)))
    for i, home in enumerate(homes):
        model = HouseholdModel(home.household_id, home, seed, weather, treatment=treatment)
        half_hours = model.consumption(ends)
        assert half_hours.gas_m3 is not None
        electricity0, gas0 = model.register_start()
        # What the meter reports: cumulative registers at the end of each half-hour.
        electricity = daily(ts, electricity0 + np.r_[0.0, np.cumsum(half_hours.electricity_kwh)])
        gas = daily(ts, gas0 + np.r_[0.0, np.cumsum(half_hours.gas_m3)], rules=GAS)
        use[i] = electricity.usage + gas_m3_to_kwh_array(gas.usage)
    history_days = (HISTORY[1] - HISTORY[0]).days + 1
    tmax, tmin = _daily_weather(weather, HISTORY[0], POST[1])
    fit = fit_prism(use[:, :history_days], tmax[:history_days], tmin[:history_days])
    assert (fit.beta > 0).all()  # gas homes heat
    per_day = []
    for first, last in (PRE, POST):
        period = slice((first - HISTORY[0]).days, (last - HISTORY[0]).days + 1)
        days = period.stop - period.start
        normal = normal_degree_days(np.full(days, 8.0), np.full(days, 2.0), fit.bases_c)
        result = normalise(fit, use[:, period], tmax[period], tmin[period], normal)
        per_day.append(result.usage / days)
    return per_day[0], per_day[1]


def test_a_known_effect_injected_into_the_meters_is_recovered() -> None:
    seed, n = 11, 80
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["detached", "semi", "terrace", "flat"], n)
    bands = rng.choice(["50-100", "100-150"], n)
    homes = [
        Household(f"hh-{i:03d}", str(kinds[i]), str(bands[i]), "gas", "2")  # type: ignore[arg-type]
        for i in range(n)
    ]
    treated = assign(strata(kinds, bands), seed=seed)
    treatment = Treatment(
        frozenset(h.household_id for h, t in zip(homes, treated, strict=True) if t),
        start=NUDGES_START,
        change=TRUE_EFFECT,
    )
    effect = estimate_effect(*_normalised_trial(homes, treatment, seed), treated)
    assert effect is not None and effect.excluded == 0
    assert effect.relative == pytest.approx(TRUE_EFFECT, abs=0.01)
    assert effect.relative_ci[1] < 0.0  # the saving is detected
    assert effect.relative_ci[1] - effect.relative_ci[0] < 0.02
    # Without the nudges the same homes show (nearly) nothing; with them, exactly 3 % less in
    # every treated home: the registers, the daily rules and the ratio normalisation keep it.
    placebo = estimate_effect(*_normalised_trial(homes, None, seed), treated)
    assert placebo is not None and abs(placebo.relative) < 0.01
    assert 1.0 + effect.relative == pytest.approx((1.0 + placebo.relative) * (1.0 + TRUE_EFFECT))
