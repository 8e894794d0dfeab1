"""Gas conversion, UK degree days and PRISM weather normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from analytics.energy import (
    UK_STANDARD_MONTHLY_HDD,
    FitStatus,
    PrismFit,
    PrismRules,
    degree_day_table,
    fit_prism,
    gas_m3_to_kwh,
    gas_m3_to_kwh_array,
    heating_degree_days,
    heating_degree_days_array,
    imperial_to_m3,
    normal_degree_days,
    normalise,
)

# Gas ---------------------------------------------------------------------------------------


def test_gas_conversion_matches_the_bills() -> None:
    assert round(gas_m3_to_kwh(2.0, 39.3), 2) == 22.33  # Shell Energy's worked example
    assert gas_m3_to_kwh(1.0) == pytest.approx(11.2206, abs=5e-5)  # default CV 39.5
    assert gas_m3_to_kwh(1.0, calorific_value_mj_per_m3=39.5) == pytest.approx(1.02264 * 39.5 / 3.6)
    np.testing.assert_allclose(
        gas_m3_to_kwh_array([1.0, 2.0, np.nan], [39.5, 39.3, 39.5]),
        [gas_m3_to_kwh(1.0), gas_m3_to_kwh(2.0, 39.3), np.nan],
    )
    assert imperial_to_m3(1.0) == pytest.approx(2.83)


# Degree days -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tmax", "tmin", "expected"),
    [
        (20.0, 16.0, 0.0),  # Tmin > Tb
        (20.0, 12.0, (15.5 - 12.0) / 4),  # mean 16 > Tb
        (17.0, 10.0, (15.5 - 10.0) / 2 - (17.0 - 15.5) / 4),  # Tmax >= Tb, mean 13.5
        (10.0, 4.0, 15.5 - 7.0),  # Tmax < Tb
        (15.5, 9.5, 3.0),  # Tmax == Tb: third row, equal to the fourth's value
        (18.0, 15.5, 0.0),  # Tmin == Tb: second row, (Tb - Tmin)/4 = 0
    ],
)
def test_met_office_max_min_rows(tmax: float, tmin: float, expected: float) -> None:
    assert heating_degree_days(tmax, tmin) == pytest.approx(expected)
    assert heating_degree_days(tmax, tmin, base_c=15.5) == pytest.approx(expected)


def test_other_bases_and_arrays() -> None:
    assert heating_degree_days(10.0, 4.0, base_c=18.5) == pytest.approx(11.5)
    table = degree_day_table([10.0, 20.0], [4.0, 12.0], [15.5, 18.5])
    np.testing.assert_allclose(table, [[8.5, 11.5], [0.875, 2.875]])
    assert np.isnan(heating_degree_days_array(np.nan, 3.0))
    assert sum(UK_STANDARD_MONTHLY_HDD) == pytest.approx(2462.5)


temps = st.floats(min_value=-20.0, max_value=35.0, allow_nan=False)


@given(a=temps, b=temps, base=st.floats(min_value=10.0, max_value=20.0))
def test_degree_days_are_continuous_monotone_and_at_least_the_mean_method(
    a: float, b: float, base: float
) -> None:
    tmax, tmin = max(a, b), min(a, b)
    hdd = heating_degree_days(tmax, tmin, base)
    assert hdd >= max(0.0, base - (tmax + tmin) / 2) - 1e-12  # a cold night still counts
    assert heating_degree_days(tmax + 0.5, tmin, base) <= hdd + 1e-12
    assert heating_degree_days(tmax, tmin - 0.5, base) >= hdd - 1e-12
    assert abs(heating_degree_days(tmax + 1e-7, tmin, base) - hdd) < 1e-6


# PRISM -------------------------------------------------------------------------------------


def _year_of_weather(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    day = np.arange(365)
    mean = 10.5 - 6.5 * np.cos(2 * np.pi * (day - 15) / 365) + rng.normal(0, 2.5, day.size)
    spread = rng.uniform(4.0, 10.0, day.size)
    return mean + spread / 2, mean - spread / 2


def test_prism_recovers_baseload_slope_and_base_temperature() -> None:
    tmax, tmin = _year_of_weather()
    use = 5.0 + 0.8 * heating_degree_days_array(tmax, tmin, 16.0)
    fit = fit_prism(use, tmax, tmin)
    assert fit.status[0] == FitStatus.SEARCHED
    assert fit.base_c[0] == 16.0
    assert fit.alpha[0] == pytest.approx(5.0)
    assert fit.beta[0] == pytest.approx(0.8)
    assert fit.r2[0] == pytest.approx(1.0)
    assert fit.days[0] == 365


def test_prism_is_least_squares_per_household() -> None:
    tmax, tmin = _year_of_weather(2)
    rng = np.random.default_rng(5)
    bases = rng.choice([13.0, 15.5, 17.0], 40)
    hdd = heating_degree_days_array(tmax[None, :], tmin[None, :], bases[:, None])
    use = rng.uniform(3, 10, (40, 1)) + rng.uniform(0.2, 2.0, (40, 1)) * hdd
    use = use * rng.lognormal(0.0, 0.15, use.shape)
    use[rng.random(use.shape) < 0.1] = np.nan  # missing days
    use[3, :300] = np.nan  # 65 days: too few to search, fixed at 15.5 °C
    use[4, :355] = np.nan  # 10 days: no fit
    fit = fit_prism(use, tmax, tmin)
    for h in (0, 1, 2, 3, 10, 39):
        known = np.isfinite(use[h])
        x = heating_degree_days_array(tmax, tmin, fit.base_c[h])[known]
        line = stats.linregress(x, use[h][known])
        assert fit.beta[h] == pytest.approx(line.slope, rel=1e-9)
        assert fit.alpha[h] == pytest.approx(line.intercept, rel=1e-9)
        assert fit.r2[h] == pytest.approx(line.rvalue**2, rel=1e-9)
        if fit.status[h] == FitStatus.SEARCHED:  # the best base on the grid
            best = max(
                stats.linregress(
                    heating_degree_days_array(tmax, tmin, b)[known], use[h][known]
                ).rvalue
                ** 2
                for b in fit.bases_c
            )
            assert fit.r2[h] == pytest.approx(best, rel=1e-9)
    assert fit.status[3] == FitStatus.FIXED_BASE and fit.base_c[3] == 15.5
    assert fit.status[4] == FitStatus.TOO_FEW_DAYS and np.isnan(fit.alpha[4])
    assert np.isnan(fit.base_c[4])
    # Fitting the households one at a time gives the same answers.
    one = fit_prism(use[10], tmax, tmin)
    assert one.beta[0] == pytest.approx(fit.beta[10]) and one.base_index[0] == fit.base_index[10]


def test_use_that_does_not_rise_on_cold_days_is_all_baseload() -> None:
    tmax, tmin = _year_of_weather(3)
    rng = np.random.default_rng(1)
    flat = 8.0 + rng.normal(0.0, 0.5, 365)
    warmer_days_more = 8.0 + 0.2 * tmax  # air conditioning, say: never a negative slope
    fit = fit_prism(np.vstack([flat, warmer_days_more]), tmax, tmin)
    assert list(fit.status) == [FitStatus.BASELOAD_ONLY] * 2
    assert list(fit.beta) == [0.0, 0.0]
    assert fit.alpha == pytest.approx([flat.mean(), warmer_days_more.mean()])
    assert list(fit.r2) == [0.0, 0.0]
    assert list(fit.base_c) == [15.5, 15.5]


def test_prism_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="not in the grid"):
        PrismRules(bases_c=(12.0, 13.0), fallback_base_c=15.5)
    with pytest.raises(ValueError, match="weather"):
        fit_prism(np.ones((2, 10)), np.ones(9), np.ones(9))


def test_a_cold_month_is_not_bad_behaviour() -> None:
    tmax, tmin = _year_of_weather(4)
    alpha, beta = 6.0, 1.2
    history = alpha + beta * heating_degree_days_array(tmax, tmin, 15.5)
    fit = fit_prism(history, tmax, tmin)
    # The same home through a cold January and a mild one: very different bills ...
    cold_max, cold_min = np.full(31, 3.0), np.full(31, -3.0)
    mild_max, mild_min = np.full(31, 11.0), np.full(31, 5.0)
    normal = normal_degree_days(np.full(31, 7.0), np.full(31, 2.0), fit.bases_c)
    cold_use = alpha + beta * heating_degree_days_array(cold_max, cold_min)
    mild_use = alpha + beta * heating_degree_days_array(mild_max, mild_min)
    assert cold_use.sum() > 1.4 * mild_use.sum()
    cold = normalise(fit, cold_use, cold_max, cold_min, normal)
    mild = normalise(fit, mild_use, mild_max, mild_min, normal)
    # ... and the same normalised use: that of a normal January.
    expected = alpha * 31 + beta * 31 * heating_degree_days(7.0, 2.0)
    assert cold.usage[0] == pytest.approx(expected)
    assert mild.usage[0] == pytest.approx(expected)
    assert cold.residual[0] == pytest.approx(0.0, abs=1e-9)


def test_normalisation_keeps_behaviour_as_a_ratio_and_fills_missing_days() -> None:
    tmax, tmin = _year_of_weather(5)
    fit = fit_prism(4.0 + 0.5 * heating_degree_days_array(tmax, tmin, 15.5), tmax, tmin)
    pmax, pmin = tmax[:28], tmin[:28]
    hdd = heating_degree_days_array(pmax, pmin)
    normal = normal_degree_days(pmax + 3.0, pmin + 3.0, fit.bases_c)
    k = fit.base_index[0]
    assert normal[k] < hdd.sum() - 50  # a cold period against a milder normal
    in_normal_weather = 4.0 * 28 + 0.5 * normal[k]
    thrifty = (4.0 + 0.5 * hdd) * 0.9  # 10 % less than its model every day
    result = normalise(fit, thrifty, pmax, pmin, normal)
    assert result.residual[0] == pytest.approx(-0.1 * (4.0 * 28 + 0.5 * hdd.sum()))
    assert result.usage[0] == pytest.approx(0.9 * in_normal_weather)  # still 10 % less
    assert result.actual[0] == pytest.approx(thrifty.sum())
    # Half the days missing: the other half's ratio fills them.
    gappy = thrifty.copy()
    gappy[::2] = np.nan
    partial = normalise(fit, gappy, pmax, pmin, normal)
    assert partial.days[0] == 14 and partial.period_days == 28
    assert partial.usage[0] == pytest.approx(0.9 * in_normal_weather)
    known = np.isfinite(gappy)
    assert partial.residual[0] == pytest.approx(
        np.nansum(gappy) - (4.0 * 14 + 0.5 * hdd[known].sum())
    )


def test_normalisation_without_a_fit_or_data_is_unknown() -> None:
    tmax, tmin = _year_of_weather(6)
    use = np.vstack([4.0 + 0.5 * heating_degree_days_array(tmax, tmin), np.full(365, np.nan)])
    fit = fit_prism(use, tmax, tmin)
    period = np.vstack([use[0, :30], use[0, :30]])
    period_empty = np.vstack([np.full(30, np.nan), use[0, :30]])
    normal = normal_degree_days(tmax[:30], tmin[:30], fit.bases_c)
    result = normalise(fit, period, tmax[:30], tmin[:30], normal)
    assert np.isfinite(result.usage[0]) and np.isnan(result.usage[1])  # no fit
    empty = normalise(fit, period_empty, tmax[:30], tmin[:30], normal)
    assert np.isnan(empty.usage[0]) and np.isnan(empty.actual[0]) and empty.days[0] == 0


def test_a_model_predicting_no_use_falls_back_to_the_additive_correction() -> None:
    bases = np.array([15.5])
    fit = PrismFit(
        bases_c=bases,
        alpha=np.array([-2.0]),  # a poor line: negative baseload
        beta=np.array([0.1]),
        base_index=np.array([0]),
        r2=np.array([0.1]),
        days=np.array([100]),
        status=np.array([FitStatus.FIXED_BASE], dtype=np.int8),
    )
    tmax, tmin = np.full(10, 12.0), np.full(10, 6.0)  # 6.5 HDD a day: predicts -13.5 kWh
    use = np.full(10, 1.0)
    result = normalise(fit, use, tmax, tmin, np.array([80.0]))
    residual = 10.0 - (-2.0 * 10 + 0.1 * 65.0)
    assert result.residual[0] == pytest.approx(residual)
    assert result.usage[0] == pytest.approx(-2.0 * 10 + 0.1 * 80.0 + residual)
