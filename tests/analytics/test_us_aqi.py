"""The US EPA AQI for PM2.5 (2024 breakpoints) and PM10, and NowCast (domain.md §2, §6.3-6.4)."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.air_quality import (
    UnknownPollutantError,
    nowcast,
    nowcast_aqi,
    nowcast_series,
    us_aqi,
    us_aqi_category,
)

# domain.md §2.2, copied here: (C_lo, C_hi, I_lo, I_hi).
PM25 = [
    (0.0, 9.0, 0, 50),
    (9.1, 35.4, 51, 100),
    (35.5, 55.4, 101, 150),
    (55.5, 125.4, 151, 200),
    (125.5, 225.4, 201, 300),
    (225.5, 325.4, 301, 500),
]
PM10 = [
    (0, 54, 0, 50),
    (55, 154, 51, 100),
    (155, 254, 101, 150),
    (255, 354, 151, 200),
    (355, 424, 201, 300),
    (425, 604, 301, 500),
]
ROWS = [("pm25", *row) for row in PM25] + [("pm10", *row) for row in PM10]


@pytest.mark.parametrize(("pollutant", "low", "high", "aqi_low", "aqi_high"), ROWS)
def test_breakpoint_edges(
    pollutant: str, low: float, high: float, aqi_low: int, aqi_high: int
) -> None:
    assert us_aqi(pollutant, low) == aqi_low
    assert us_aqi(pollutant, high) == aqi_high


def test_2024_pm25_table() -> None:
    assert us_aqi("pm25", 9.0) == 50  # the 2012 table had Good up to 12.0
    assert us_aqi("pm25", 12.0) == 56  # 49/26.3 x 2.9 + 51 = 56.40
    # One Hazardous row since 2024: 199/99.9 x (300 - 225.5) + 301 = 449.4
    assert us_aqi("pm25", 300.0) == 449


@pytest.mark.parametrize(
    ("pollutant", "concentration", "aqi"),
    [
        ("pm25", 9.05, 50),  # truncated to 9.0, not rounded to 9.1 (51)
        ("pm25", 9.09999, 50),
        ("pm25", 35.45, 100),
        ("pm25", 35.49, 100),
        ("pm25", 55.45, 150),
        ("pm10", 54.9, 50),  # truncated to 54
        ("pm10", 154.99, 100),
    ],
)
def test_truncates_before_lookup(pollutant: str, concentration: float, aqi: int) -> None:
    assert us_aqi(pollutant, concentration) == aqi


def test_rounds_the_aqi_to_the_nearest_integer() -> None:
    assert us_aqi("pm25", 12.1) == 57  # 56.59: rounded up, not cut to 56
    assert us_aqi("pm25", 4.4) == 24  # 50/9 x 4.4 = 24.44
    assert us_aqi("pm10", 100) == 73  # 49/99 x 45 + 51 = 73.27


@pytest.mark.parametrize(
    ("pollutant", "concentration"),
    [("pm25", 325.5), ("pm25", 500.0), ("pm25", 1e9), ("pm10", 605), ("pm10", 10_000)],
)
def test_beyond_the_scale_is_none(pollutant: str, concentration: float) -> None:
    assert us_aqi(pollutant, concentration) is None


def test_the_top_of_the_scale_after_truncation() -> None:
    assert us_aqi("pm25", 325.49) == 500
    assert us_aqi("pm10", 604.9) == 500


def test_negative_concentrations_clamp_to_zero() -> None:
    assert us_aqi("pm25", -0.3) == 0
    assert us_aqi("pm10", -20) == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="not a number"):
        us_aqi("pm25", bad)


@pytest.mark.parametrize("name", ["o3", "no2", "PM2.5", ""])
def test_only_particles(name: str) -> None:
    with pytest.raises(UnknownPollutantError) as caught:
        us_aqi(name, 10.0)
    assert caught.value.allowed == ("pm25", "pm10")
    with pytest.raises(UnknownPollutantError):
        nowcast_aqi(name, [10.0, 10.0])


def reference_aqi(pollutant: str, concentration: float) -> int | None:
    """The formula written out again with floats, from the table above."""
    step = "0.1" if pollutant == "pm25" else "1"
    c = float(Decimal(repr(max(concentration, 0.0))).quantize(Decimal(step), ROUND_DOWN))
    for low, high, aqi_low, aqi_high in PM25 if pollutant == "pm25" else PM10:
        if c <= high:
            return math.floor((aqi_high - aqi_low) / (high - low) * (c - low) + aqi_low + 0.5)
    return None


@given(st.sampled_from(["pm25", "pm10"]), st.floats(min_value=-5, max_value=700))
def test_agrees_with_the_formula(pollutant: str, concentration: float) -> None:
    assert us_aqi(pollutant, concentration) == reference_aqi(pollutant, concentration)


@given(st.sampled_from(["pm25", "pm10"]), st.floats(0, 700), st.floats(0, 700))
def test_monotonic(pollutant: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    aqi_low, aqi_high = us_aqi(pollutant, low), us_aqi(pollutant, high)
    if aqi_high is not None:
        assert aqi_low is not None and aqi_low <= aqi_high
    if aqi_low is None:
        assert aqi_high is None  # once beyond the scale, always beyond


@pytest.mark.parametrize(
    ("aqi", "name", "colour"),
    [
        (0, "Good", "#00E400"),
        (50, "Good", "#00E400"),
        (51, "Moderate", "#FFFF00"),
        (100, "Moderate", "#FFFF00"),
        (101, "Unhealthy for Sensitive Groups", "#FF7E00"),
        (151, "Unhealthy", "#FF0000"),
        (201, "Very Unhealthy", "#8F3F97"),
        (300, "Very Unhealthy", "#8F3F97"),
        (301, "Hazardous", "#7E0023"),
        (500, "Hazardous", "#7E0023"),
    ],
)
def test_categories(aqi: int, name: str, colour: str) -> None:
    category = us_aqi_category(aqi)
    assert (category.name, category.colour) == (name, colour)


@pytest.mark.parametrize("aqi", [-1, 501])
def test_categories_outside_the_scale(aqi: int) -> None:
    with pytest.raises(ValueError, match="0 to 500"):
        us_aqi_category(aqi)


# --- NowCast --------------------------------------------------------------------------------


def test_nowcast_of_a_steady_hour_is_the_mean() -> None:
    assert nowcast([12.0] * 12) == pytest.approx(12.0)
    assert nowcast([12.0] * 3) == pytest.approx(12.0)


def test_nowcast_weights() -> None:
    # w = cmin/cmax = 10/15: (10 + 2/3 x 15) / (1 + 2/3) = 12
    assert nowcast([10.0, 15.0]) == pytest.approx(12.0)
    # w = 1/100 is clamped to 0.5: (1 + 0.5 x 100) / 1.5 = 34
    assert nowcast([1.0, 100.0]) == pytest.approx(34.0)
    # Three hours, w = 0.5: (40 + 0.5 x 20 + 0.25 x 80) / 1.75 = 40
    assert nowcast([40.0, 20.0, 80.0]) == pytest.approx(40.0)


def test_nowcast_uses_only_the_last_12_hours() -> None:
    assert nowcast([10.0] * 12 + [1000.0]) == pytest.approx(10.0)


def test_missing_hours_keep_their_true_age() -> None:
    # Hour 1 missing: the 20 is 2 hours ago, weight 0.5² (not 0.5, as if it were 1 hour ago).
    assert nowcast([10.0, None, 20.0]) == pytest.approx((10 + 0.25 * 20) / 1.25)
    assert nowcast([10.0, math.nan, 20.0]) == pytest.approx(12.0)
    assert nowcast([None, 10.0, 20.0]) == pytest.approx((0.5 * 10 + 0.25 * 20) / 0.75)


@pytest.mark.parametrize(
    ("hours", "valid"),
    [
        ([5.0, 5.0, 5.0], True),
        ([5.0, 5.0, None], True),
        ([5.0, None, 5.0], True),
        ([None, 5.0, 5.0], True),
        ([5.0, None, None, 5.0, 5.0, 5.0], False),
        ([None, None, 5.0, 5.0, 5.0], False),
        ([None, 5.0, None, 5.0, 5.0], False),
        ([5.0], False),
        ([], False),
    ],
)
def test_two_of_the_three_most_recent_hours(hours: list[float | None], valid: bool) -> None:
    assert (nowcast(hours) is not None) is valid


def test_nowcast_of_zero_and_negative_hours() -> None:
    assert nowcast([0.0, 0.0, 0.0]) == 0.0
    assert nowcast([-2.0, 0.0, 0.0]) == 0.0  # negatives clamp to 0 as in the indices


def test_nowcast_aqi_truncates_the_nowcast() -> None:
    # NowCast 35.46 → 35.4 → AQI 100; rounding it to 35.5 would give 101.
    assert nowcast_aqi("pm25", [35.46] * 12) == 100
    assert nowcast_aqi("pm10", [54.9, 54.9]) == 50
    assert nowcast_aqi("pm25", [None, None, 30.0]) is None
    assert nowcast_aqi("pm25", [400.0, 400.0]) is None  # beyond the scale


hour_values = st.one_of(st.none(), st.floats(min_value=0, max_value=500))


@settings(max_examples=200)
@given(st.lists(hour_values, max_size=30))
def test_series_matches_the_scalar_nowcast(hours: list[float | None]) -> None:
    oldest_first = np.array([np.nan if h is None else h for h in hours], dtype=np.float64)
    got = nowcast_series(oldest_first)
    assert len(got) == len(hours)
    for i in range(len(hours)):
        expected = nowcast(hours[: i + 1][::-1])
        if expected is None:
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(st.lists(st.floats(min_value=0, max_value=500), min_size=2, max_size=12))
def test_nowcast_lies_within_the_hours(hours: list[float]) -> None:
    value = nowcast(hours)
    assert value is not None
    assert min(hours) - 1e-9 <= value <= max(hours) + 1e-9
