"""A year against the UK limits and the WHO 2021 guidelines (domain.md §3)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from analytics.air_quality import (
    OBJECTIVES,
    Framework,
    Means,
    Metric,
    Monitor,
    Outcome,
    Pollutant,
    Result,
    Series,
    assess_monitor_year,
    assess_year,
    hourly_means,
    objectives_for,
    quarter_hour_means,
)

HOUR = np.timedelta64(3600, "s")
YEAR = 2026
START = np.datetime64(f"{YEAR}-01-01T00:00:00", "s")
HOURS = 8760


def hours_of_year(value: float = 10.0, *, year: int = YEAR) -> npt.NDArray[np.float64]:
    start = np.datetime64(f"{year}-01-01T00:00:00", "s")
    end = np.datetime64(f"{year + 1}-01-01T00:00:00", "s")
    return np.full(int((end - start) // HOUR), value)


def means(values: npt.NDArray[np.float64], *, start: np.datetime64 = START) -> Means:
    """Hourly means from one value an hour (a monitor reporting hourly)."""
    ts = start + np.arange(len(values)) * HOUR
    return hourly_means(Series(ts, values), interval_s=3600)


def assess(
    pollutant: Pollutant,
    values: npt.NDArray[np.float64],
    key: str,
    *,
    tz: str = "Europe/London",
    min_capture: float = 0.75,
) -> Result:
    year = assess_year(pollutant, means(values), year=YEAR, tz=tz, min_capture=min_capture)
    return year.result(key)


# --- the table ------------------------------------------------------------------------------

# domain.md §3, copied: key → (pollutant, level µg/m³, exceedances allowed).
EXPECTED = {
    "uk_no2_annual": ("no2", 40, 0),
    "uk_no2_1h": ("no2", 200, 18),
    "uk_pm10_annual": ("pm10", 40, 0),
    "uk_pm10_24h": ("pm10", 50, 35),
    "uk_pm25_annual": ("pm25", 20, 0),
    "uk_pm25_2040": ("pm25", 10, 0),
    "uk_o3_8h": ("o3", 100, 10),
    "who_pm25_annual": ("pm25", 5, 0),
    "who_pm25_24h": ("pm25", 15, 0),
    "who_pm10_annual": ("pm10", 15, 0),
    "who_pm10_24h": ("pm10", 45, 0),
    "who_no2_annual": ("no2", 10, 0),
    "who_no2_24h": ("no2", 25, 0),
    "who_o3_8h": ("o3", 100, 0),
    "who_o3_peak_season": ("o3", 60, 0),
    "who_so2_24h": ("so2", 40, 0),
}


@pytest.mark.parametrize(("key", "expected"), EXPECTED.items())
def test_objective_levels(key: str, expected: tuple[str, float, int]) -> None:
    objective = next(o for o in OBJECTIVES if o.key == key)
    assert (objective.pollutant, objective.level_ugm3, objective.allowed) == expected
    assert objective.source
    assert (objective.framework is Framework.WHO_2021) == key.startswith("who_")


def test_keys_are_unique_and_every_pollutant_has_objectives() -> None:
    keys = [o.key for o in OBJECTIVES]
    assert len(keys) == len(set(keys))
    for name in ("o3", "no2", "so2", "pm25", "pm10"):
        assert objectives_for(name)


def test_who_short_term_guidelines_are_99th_percentiles() -> None:
    short_term = [o for o in OBJECTIVES if o.framework is Framework.WHO_2021 and "24h" in o.key]
    assert short_term
    assert all(o.metric is Metric.DAILY_P99 and "99th percentile" in o.source for o in short_term)


def test_description() -> None:
    objective = next(o for o in OBJECTIVES if o.key == "uk_no2_1h")
    assert objective.description == (
        "no2 hours with a 1-hour mean above the level 200 µg/m³, more than 18 a year"
    )


# --- annual means ---------------------------------------------------------------------------


def test_annual_mean_limit() -> None:
    met = assess("no2", hours_of_year(40.0), "uk_no2_annual")
    assert (met.outcome, met.value, met.valid, met.expected) == (Outcome.MET, 40.0, HOURS, HOURS)
    exceeded = assess("no2", hours_of_year(40.2), "uk_no2_annual")
    assert exceeded.outcome is Outcome.EXCEEDED  # compared unrounded
    assert exceeded.value == pytest.approx(40.2)


def test_pm25_limit_target_and_guideline() -> None:
    year = assess_year("pm25", means(hours_of_year(12.0)), year=YEAR)
    assert year.result("uk_pm25_annual").outcome is Outcome.MET
    assert year.result("uk_pm25_2040").outcome is Outcome.EXCEEDED
    assert year.result("who_pm25_annual").outcome is Outcome.EXCEEDED
    assert {r.objective.key for r in year.exceeded} == {"uk_pm25_2040", "who_pm25_annual"}


def test_annual_mean_needs_75_percent_capture() -> None:
    values = hours_of_year(60.0)
    values[: HOURS // 4 + 1] = np.nan  # just under 75% left
    result = assess("no2", values, "uk_no2_annual")
    assert result.outcome is Outcome.INSUFFICIENT_DATA
    assert result.value == 60.0  # still reported
    assert result.capture < 0.75
    values[HOURS // 4] = 60.0  # exactly 75%
    assert assess("no2", values, "uk_no2_annual").outcome is Outcome.EXCEEDED


def test_capture_threshold_is_configurable() -> None:
    values = hours_of_year(30.0)
    values[: HOURS // 5] = np.nan  # 80% capture
    assert assess("no2", values, "uk_no2_annual").outcome is Outcome.MET
    strict = assess("no2", values, "uk_no2_annual", min_capture=0.9)
    assert strict.outcome is Outcome.INSUFFICIENT_DATA


def test_leap_year_has_8784_hours() -> None:
    result = assess_year(
        "no2",
        means(hours_of_year(5.0, year=2028), start=np.datetime64("2028-01-01T00:00:00", "s")),
        year=2028,
    ).result("uk_no2_annual")
    assert (result.valid, result.expected) == (8784, 8784)


def test_hours_outside_the_year_do_not_count() -> None:
    values = np.concatenate([np.full(24, 500.0), hours_of_year(10.0), np.full(24, 500.0)])
    result = assess_year("no2", means(values, start=START - 24 * HOUR), year=YEAR).result(
        "uk_no2_annual"
    )
    assert (result.value, result.valid) == (10.0, HOURS)


# --- counted exceedances ------------------------------------------------------------------


@pytest.mark.parametrize(("hours_above", "outcome"), [(18, Outcome.MET), (19, Outcome.EXCEEDED)])
def test_no2_hourly_exceedances(hours_above: int, outcome: Outcome) -> None:
    values = hours_of_year(30.0)
    values[100 : 100 + hours_above] = 201.0
    values[1000:1050] = 200.0  # at the level is not above it
    result = assess("no2", values, "uk_no2_1h")
    assert (result.outcome, result.exceedances) == (outcome, hours_above)


def test_counts_above_the_allowance_exceed_even_with_poor_capture() -> None:
    values = np.full(HOURS, np.nan)
    values[:100] = 30.0
    values[:19] = 250.0
    assert assess("no2", values, "uk_no2_1h").outcome is Outcome.EXCEEDED
    values[:19] = 30.0
    result = assess("no2", values, "uk_no2_1h")
    assert (result.outcome, result.exceedances) == (Outcome.INSUFFICIENT_DATA, 0)


@pytest.mark.parametrize(("days_above", "outcome"), [(35, Outcome.MET), (36, Outcome.EXCEEDED)])
def test_pm10_daily_exceedances(days_above: int, outcome: Outcome) -> None:
    values = hours_of_year(20.0)
    for day in range(days_above):
        values[day * 24 : day * 24 + 24] = 51.0
    values[24 * 200 : 24 * 201] = 50.0  # a day at the level
    result = assess("pm10", values, "uk_pm10_24h")
    assert (result.outcome, result.exceedances) == (outcome, days_above)
    assert (result.valid, result.expected) == (365, 365)


def test_daily_means_follow_the_london_day() -> None:
    # Two hours of 700 at 22:00 and 23:00 UTC on 30 June. In London (BST) 23:00 UTC is already
    # 1 July, so each London day gets one: means of 48.3, under 50. The UTC day gets both: 76.7.
    values = hours_of_year(20.0)
    first = int((np.datetime64("2026-06-30T22:00:00") - START) // HOUR)
    values[first : first + 2] = 700.0
    assert assess("pm10", values, "uk_pm10_24h").exceedances == 0
    assert assess("pm10", values, "uk_pm10_24h", tz="UTC").exceedances == 1


def test_a_day_needs_18_hours() -> None:
    values = hours_of_year(20.0)
    values[:7] = np.nan  # 1 January has 17 hours
    values[7:24] = 90.0
    result = assess("pm10", values, "uk_pm10_24h")
    assert (result.exceedances, result.valid) == (0, 364)


@pytest.mark.parametrize(("days_above", "outcome"), [(10, Outcome.MET), (11, Outcome.EXCEEDED)])
def test_o3_days_with_a_high_8_hour_mean(days_above: int, outcome: Outcome) -> None:
    values = hours_of_year(50.0)
    for day in range(days_above):
        start = (10 + day * 7) * 24 + 9  # 8 hours from 09:00 in January-March (GMT)
        values[start : start + 8] = 120.0
    result = assess("o3", values, "uk_o3_8h")
    assert (result.outcome, result.exceedances) == (outcome, days_above)


def test_o3_short_peaks_do_not_make_an_8_hour_exceedance() -> None:
    values = hours_of_year(50.0)
    values[2000:2004] = 300.0  # 4 hours of 300: the 8-hour mean is 175, above 100 on one day
    values[3000:3002] = 150.0  # 2 hours of 150: 8-hour mean 75
    assert assess("o3", values, "uk_o3_8h").exceedances == 1


@pytest.mark.parametrize(("periods", "outcome"), [(35, Outcome.MET), (36, Outcome.EXCEEDED)])
def test_so2_15_minute_objective(periods: int, outcome: Outcome) -> None:
    quarter = np.timedelta64(900, "s")
    values = np.full(HOURS * 4, 5.0)
    values[: periods * 2 : 2] = 300.0
    ts = START + np.arange(len(values)) * quarter
    quarters = quarter_hour_means(Series(ts, values), interval_s=900)
    hourly = means(hours_of_year(5.0))
    year = assess_year("so2", hourly, year=YEAR, quarter_hourly=quarters)
    result = year.result("uk_so2_15min")
    assert (result.outcome, result.exceedances, result.expected) == (outcome, periods, HOURS * 4)
    without = assess_year("so2", hourly, year=YEAR)
    assert "uk_so2_15min" not in {r.objective.key for r in without.results}


# --- WHO percentiles and peak season ----------------------------------------------------------


@pytest.mark.parametrize(("days_above", "outcome"), [(3, Outcome.MET), (4, Outcome.EXCEEDED)])
def test_who_24_hour_guideline_allows_3_days_in_365(days_above: int, outcome: Outcome) -> None:
    values = hours_of_year(10.0)
    for day in range(days_above):
        values[(50 + day) * 24 : (51 + day) * 24] = 16.0 + day
    result = assess("pm25", values, "who_pm25_24h")
    assert result.outcome is outcome
    # Nearest rank: the 362nd smallest of 365 daily means.
    assert result.value == (10.0 if days_above == 3 else 16.0)


def test_who_o3_8_hour_percentile_uses_daily_maxima() -> None:
    values = hours_of_year(40.0)
    for day in range(4):
        start = (20 + day) * 24 + 10
        values[start : start + 8] = 110.0
    result = assess("o3", values, "who_o3_8h")
    assert (result.outcome, result.value) == (Outcome.EXCEEDED, 110.0)


def test_who_o3_peak_season() -> None:
    values = hours_of_year(40.0)
    april = int((np.datetime64("2026-04-01T00:00:00") - START) // HOUR)
    october = int((np.datetime64("2026-10-01T00:00:00") - START) // HOUR)
    values[april:october] = 70.0
    result = assess("o3", values, "who_o3_peak_season")
    assert result.outcome is Outcome.EXCEEDED
    assert result.value == pytest.approx(70.0)
    assert (result.valid, result.expected) == (12, 12)
    values[april:october] = 55.0
    assert assess("o3", values, "who_o3_peak_season").outcome is Outcome.MET


def test_who_peak_season_needs_six_consecutive_months() -> None:
    values = hours_of_year(70.0)
    for month in ("2026-03", "2026-06", "2026-09"):  # a gap every quarter
        first = int((np.datetime64(f"{month}-01T00:00:00") - START) // HOUR)
        values[first : first + 24 * 28] = np.nan
    result = assess("o3", values, "who_o3_peak_season")
    assert (result.outcome, result.value, result.valid) == (Outcome.INSUFFICIENT_DATA, None, 9)


# --- from raw readings ----------------------------------------------------------------------


def test_a_monitor_year_from_five_minute_readings() -> None:
    ts = np.arange(
        np.datetime64("2025-12-31T12:00", "s"),
        np.datetime64("2027-01-01T00:00", "s"),
        np.timedelta64(300, "s"),
    )
    rng = np.random.default_rng(3)
    no2 = rng.uniform(20.0, 40.0, len(ts))
    pm10 = np.full(len(ts), 20.0)
    pm10[ts >= np.datetime64("2026-10-01")] = np.nan  # the PM10 monitor broke in October
    years = assess_monitor_year(Monitor("m1", ts, {"no2": no2, "pm10": pm10}), year=YEAR)
    assert [y.pollutant for y in years] == ["no2", "pm10"]
    annual = years[0].result("uk_no2_annual")
    assert annual.outcome is Outcome.MET and annual.valid == HOURS
    inside = (ts >= START) & (ts < np.datetime64("2027-01-01"))
    assert annual.value == pytest.approx(no2[inside].mean())
    broken = years[1].result("uk_pm10_annual")
    assert broken.outcome is Outcome.INSUFFICIENT_DATA
    assert broken.capture == pytest.approx(273 / 365)


def test_objectives_for_another_pollutant_are_refused() -> None:
    with pytest.raises(ValueError, match="not an objective for no2"):
        assess_year("no2", means(hours_of_year()), year=YEAR, objectives=objectives_for("pm10"))
