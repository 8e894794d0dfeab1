"""The UK DAQI: the band table, rounding, negatives, levels, averaging and data capture,
monitor and zone indices, and the historical daily index (domain.md §1, §6.1-6.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.air_quality import (
    NO_INDEX,
    POLLUTANTS,
    Band,
    Monitor,
    NoIndex,
    Pollutant,
    Series,
    UnknownPollutantError,
    daily_daqi,
    daqi_band,
    daqi_index,
    daqi_indices,
    daqi_level,
    hourly_means,
    means_from_rollup,
    monitor_daqi,
    quarter_hour_means,
    running_means,
    zone_daqi,
)
from analytics.air_quality._rounding import round_half_up, round_half_up_array

# Defra's bands (domain.md §1.3), copied here rather than read from the code under test:
# (lowest, highest) µg/m³ of indices 1-9, both ends inclusive; index 10 starts one above.
TABLE: dict[Pollutant, list[tuple[int, int]]] = {
    "o3": [(0, 33), (34, 66), (67, 100), (101, 120), (121, 140), (141, 160), (161, 187),
           (188, 213), (214, 240)],
    "no2": [(0, 67), (68, 134), (135, 200), (201, 267), (268, 334), (335, 400), (401, 467),
            (468, 534), (535, 600)],
    "so2": [(0, 88), (89, 177), (178, 266), (267, 354), (355, 443), (444, 532), (533, 710),
            (711, 887), (888, 1064)],
    "pm25": [(0, 11), (12, 23), (24, 35), (36, 41), (42, 47), (48, 53), (54, 58), (59, 64),
             (65, 70)],
    "pm10": [(0, 16), (17, 33), (34, 50), (51, 58), (59, 66), (67, 75), (76, 83), (84, 91),
             (92, 100)],
}  # fmt: skip
VERY_HIGH_FROM = {"o3": 241, "no2": 601, "so2": 1065, "pm25": 71, "pm10": 101}

EDGES = [(p, i + 1, lo, hi) for p, rows in TABLE.items() for i, (lo, hi) in enumerate(rows)]


# --- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize(("pollutant", "index", "low", "high"), EDGES)
def test_every_band_edge(pollutant: Pollutant, index: int, low: int, high: int) -> None:
    assert daqi_index(pollutant, low) == index
    assert daqi_index(pollutant, high) == index
    assert daqi_index(pollutant, high + 0.49) == index  # rounds down to the top of the band
    assert daqi_index(pollutant, high + 0.5) == index + 1  # rounds half up into the next
    assert daqi_index(pollutant, high + 1) == index + 1
    if low > 0:
        assert daqi_index(pollutant, low - 0.5) == index  # low - 0.5 rounds up to low
        assert daqi_index(pollutant, low - 0.51) == index - 1


@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_very_high_has_no_top(pollutant: Pollutant) -> None:
    start = VERY_HIGH_FROM[pollutant]
    assert daqi_index(pollutant, start - 0.51) == 9
    assert daqi_index(pollutant, start - 0.5) == 10
    assert daqi_index(pollutant, start * 1000) == 10
    assert daqi_index(pollutant, 1e300) == 10


@pytest.mark.parametrize(
    ("pollutant", "concentration", "index"),
    [
        ("pm25", 11, 1),
        ("pm25", 11.4, 1),
        ("pm25", 11.5, 2),
        ("pm25", 58.5, 8),  # banker's rounding would give 58 → 7
        ("pm25", 70.5, 10),  # banker's: 70 → 9
        ("o3", 100.5, 4),  # banker's: 100 → 3
        ("no2", 200.5, 4),  # banker's: 200 → 3
        ("no2", 67.5, 2),
        ("so2", 266.5, 4),
        ("pm10", 16.5, 2),
        ("pm10", 100.49999, 9),
    ],
)
def test_rounds_once_half_up(pollutant: Pollutant, concentration: float, index: int) -> None:
    assert daqi_index(pollutant, concentration) == index


def test_half_up_is_not_pythons_round() -> None:
    # The decision the tests pin down (domain.md §6.1): the two modes disagree at 58.5.
    assert round(58.5) == 58
    assert daqi_index("pm25", 58.5) != daqi_index("pm25", round(58.5))


@pytest.mark.parametrize("concentration", [-0.0, -0.4, -0.6, -3.0, -1e9])
@pytest.mark.parametrize("pollutant", POLLUTANTS)
def test_negative_concentrations_clamp_to_zero(pollutant: Pollutant, concentration: float) -> None:
    assert daqi_index(pollutant, concentration) == 1
    assert daqi_indices(pollutant, [concentration]).tolist() == [1]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="not a number"):
        daqi_index("no2", bad)


@pytest.mark.parametrize("name", ["PM2.5", "co", "", "NO2"])
def test_unknown_pollutants_are_refused(name: str) -> None:
    with pytest.raises(UnknownPollutantError) as caught:
        daqi_index(name, 10)
    assert caught.value.pollutant == name
    assert isinstance(caught.value, ValueError)
    with pytest.raises(UnknownPollutantError):
        daqi_indices(name, [10.0])


def test_array_form_gives_no_index_for_missing_and_refuses_infinity() -> None:
    got = daqi_indices("pm25", [np.nan, 11.5, np.nan, 70.5])
    assert got.tolist() == [NO_INDEX, 2, NO_INDEX, 10]
    assert got.dtype == np.int8
    with pytest.raises(ValueError, match="finite"):
        daqi_indices("pm25", [1.0, np.inf])


concentrations = st.floats(min_value=-50, max_value=2000, allow_nan=False)
halves = st.integers(min_value=0, max_value=4000).map(lambda n: n / 2)


@given(st.sampled_from(POLLUTANTS), st.lists(st.one_of(concentrations, halves), max_size=40))
def test_array_form_matches_scalar(pollutant: Pollutant, values: list[float]) -> None:
    expected = [daqi_index(pollutant, v) for v in values]
    assert daqi_indices(pollutant, values).tolist() == expected


@given(
    st.sampled_from(POLLUTANTS),
    st.one_of(concentrations, halves),
    st.one_of(concentrations, halves),
)
def test_monotonic(pollutant: Pollutant, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert daqi_index(pollutant, low) <= daqi_index(pollutant, high)


@given(st.sampled_from(POLLUTANTS), st.one_of(concentrations, halves))
def test_agrees_with_the_table(pollutant: Pollutant, value: float) -> None:
    rounded = int(Decimal(repr(max(0.0, value))).quantize(Decimal(1), ROUND_HALF_UP))
    expected = next(
        (i + 1 for i, (lo, hi) in enumerate(TABLE[pollutant]) if lo <= rounded <= hi), 10
    )
    assert daqi_index(pollutant, value) == expected


@given(st.one_of(st.floats(min_value=0, max_value=1e17), halves))
def test_vectorised_rounding_agrees_with_decimal(value: float) -> None:
    assert round_half_up_array(np.array([value]))[0] == round_half_up(value)


def test_rounding_edge_floats() -> None:
    below_half = np.nextafter(0.5, 0)
    assert round_half_up(below_half) == 0
    assert round_half_up_array(np.array([below_half, 0.5, 2.5, 1e300])).tolist() == [0, 1, 3, 1e300]


# --- levels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "band"),
    [(1, Band.LOW), (3, Band.LOW), (4, Band.MODERATE), (6, Band.MODERATE), (7, Band.HIGH),
     (9, Band.HIGH), (10, Band.VERY_HIGH)],
)  # fmt: skip
def test_bands(index: int, band: Band) -> None:
    assert daqi_band(index) is band
    assert daqi_level(index).band is band


def test_levels_carry_defra_advice_and_uk_air_colours() -> None:
    low, moderate, high, very_high = (daqi_level(i) for i in (2, 5, 8, 10))
    usual = "Enjoy your usual outdoor activities."
    assert low.advice.general == low.advice.at_risk == usual
    assert moderate.advice.general == usual
    assert moderate.advice.at_risk.startswith("Adults and children with lung problems")
    assert "consider reducing strenuous physical activity" in moderate.advice.at_risk
    assert "sore eyes, cough or sore throat" in high.advice.general
    assert "reliever inhaler" in high.advice.at_risk
    assert "Older people should also reduce physical exertion." in high.advice.at_risk
    assert "should avoid strenuous physical activity" in very_high.advice.at_risk
    assert very_high.advice.general.startswith("Reduce physical exertion")
    colours = [daqi_level(i).colour for i in range(1, 11)]
    assert colours[0] == "#9CFF9C"
    assert colours[3] == "#FFFF00"
    assert colours[9] == "#CE30FF"
    assert len(set(colours)) == 10


@pytest.mark.parametrize("index", [0, 11, -1])
def test_levels_outside_the_scale_are_refused(index: int) -> None:
    with pytest.raises(ValueError, match="1 to 10"):
        daqi_level(index)


# --- averaging and data capture ----------------------------------------------------------

T0 = np.datetime64("2026-11-25T00:00:00", "s")
FIVE_MIN = np.timedelta64(300, "s")
HOUR = np.timedelta64(3600, "s")


def readings(start: np.datetime64, values: list[float], step: np.timedelta64 = FIVE_MIN) -> Series:
    return Series(start + np.arange(len(values)) * step, np.array(values, dtype=np.float64))


def hourly_monitor(
    name: Pollutant, hourly: list[float], *, start: np.datetime64 = T0, monitor_id: str = "m1"
) -> Monitor:
    """A monitor reporting once an hour (interval 3600 s), at the start of each hour."""
    ts = start + np.arange(len(hourly)) * HOUR
    return Monitor(monitor_id, ts, {name: np.array(hourly)}, interval_s=3600)


def test_hourly_mean_needs_75_percent_of_the_readings() -> None:
    twelve = readings(T0, [float(i) for i in range(12)])
    means = hourly_means(twelve, interval_s=300)
    assert means.mean.tolist() == [5.5]
    assert (means.count.tolist(), means.expected, means.needed) == ([12], 12.0, 9)
    nine = readings(T0, [10.0] * 9 + [np.nan] * 3)
    assert hourly_means(nine, interval_s=300, end=T0 + HOUR).mean.tolist() == [10.0]
    eight = readings(T0, [10.0] * 8 + [np.nan] * 4)
    assert np.isnan(hourly_means(eight, interval_s=300, end=T0 + HOUR).mean).all()


def test_hourly_periods_are_half_open_and_gap_free() -> None:
    # Readings at 00:00 belong to the hour from 00:00; one at 01:00 to the next hour.
    series = Series(
        np.array([T0, T0 + 1800, T0 + 3600, T0 + 3 * 3600], dtype="datetime64[s]"),
        np.array([1.0, 3.0, 100.0, 7.0]),
    )
    means = hourly_means(series, interval_s=3600, min_capture=0.5)
    assert means.start.tolist() == [(T0 + i * HOUR).astype(datetime) for i in range(4)]
    assert means.mean[0] == 2.0
    assert means.mean[1] == 100.0
    assert np.isnan(means.mean[2])  # no readings in the third hour
    assert means.count.tolist() == [2, 1, 0, 1]


def test_capture_follows_the_reporting_interval() -> None:
    # A monitor reporting every minute needs 45 of 60 readings in an hour.
    minutes = readings(T0, [1.0] * 45, np.timedelta64(60, "s"))
    assert hourly_means(minutes, interval_s=60, end=T0 + HOUR).needed == 45
    assert hourly_means(minutes, interval_s=60, end=T0 + HOUR).mean.tolist() == [1.0]
    fewer = readings(T0, [1.0] * 44, np.timedelta64(60, "s"))
    assert np.isnan(hourly_means(fewer, interval_s=60, end=T0 + HOUR).mean[0])


def test_fifteen_minute_means() -> None:
    series = readings(T0, [10.0, 20.0, 30.0, 40.0, np.nan, 60.0])
    means = quarter_hour_means(series, interval_s=300)
    assert means.mean[0] == 20.0
    assert np.isnan(means.mean[1])  # 2 of 3 readings: 75% of 3 rounds up to all 3


def test_running_mean_needs_six_of_eight_hours() -> None:
    hours = [1.0, 2.0, np.nan, 4.0, 5.0, np.nan, 7.0, 8.0, np.nan]
    means = hourly_means(hourly_monitor("o3", hours).series("o3"), interval_s=3600)
    eight = running_means(means, hours=8, min_valid=6)
    assert np.isnan(eight.mean[:7]).all()  # fewer than 8 hours so far, and only 5 valid
    assert eight.mean[7] == pytest.approx((1 + 2 + 4 + 5 + 7 + 8) / 6)
    assert np.isnan(eight.mean[8])  # 5 of 8
    assert eight.count.tolist()[7:] == [6, 5]
    assert eight.start[7] == T0 and eight.end[7] == T0 + 8 * HOUR


def test_means_from_a_rollup_fill_the_missing_buckets() -> None:
    bucket = np.array([T0, T0 + 2 * HOUR], dtype="datetime64[s]")
    means = means_from_rollup(bucket, [12, 8], [30.0, 40.0], interval_s=300, end=T0 + 4 * HOUR)
    assert means.count.tolist() == [12, 0, 8, 0]
    assert means.mean[0] == 30.0
    assert np.isnan(means.mean[1:]).all()  # 8 samples of 12 fail capture


# --- a monitor's index --------------------------------------------------------------------

AT = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # complete periods end at 00:00 (00:30 for SO2)


def day_of(name: Pollutant, value: float, hours: int = 24) -> list[float]:
    return [value] * hours


def test_no2_uses_the_last_complete_hour() -> None:
    values = [50.0] * (24 * 12) + [900.0] * 6  # the hour in progress does not count yet
    monitor = Monitor("m1", T0 + np.arange(len(values)) * FIVE_MIN, {"no2": np.array(values)})
    now = monitor_daqi(monitor, at=AT)
    sub = now.sub_index("no2")
    assert (sub.index, sub.concentration, sub.reason) == (1, 50.0, None)
    assert sub.start == np.datetime64("2026-11-25T23:00:00")
    assert sub.end == np.datetime64("2026-11-26T00:00:00")
    assert sub.averaging == "hourly mean"


def test_no2_hour_with_too_few_readings_has_no_index() -> None:
    values = [50.0] * (23 * 12) + [300.0] * 8 + [np.nan] * 4
    monitor = Monitor("m1", T0 + np.arange(len(values)) * FIVE_MIN, {"no2": np.array(values)})
    sub = monitor_daqi(monitor, at=AT).sub_index("no2")
    assert sub.index is None and sub.concentration is None
    assert sub.reason is NoIndex.INSUFFICIENT_CAPTURE
    assert sub.detail == "8 of 12 readings (9 needed)"


@pytest.mark.parametrize(("valid_hours", "has_index"), [(8, True), (6, True), (5, False)])
def test_o3_running_mean_capture(valid_hours: int, has_index: bool) -> None:
    hours = [80.0] * 16 + [80.0] * valid_hours + [np.nan] * (8 - valid_hours)
    now = monitor_daqi(hourly_monitor("o3", hours), at=AT)
    sub = now.sub_index("o3")
    assert (sub.index is not None) is has_index
    assert sub.count == valid_hours and sub.needed == 6 and sub.expected == 8
    if not has_index:
        assert sub.reason is NoIndex.INSUFFICIENT_CAPTURE
        assert sub.detail == f"{valid_hours} of 8 hours (6 needed)"


@pytest.mark.parametrize(("valid_hours", "has_index"), [(24, True), (18, True), (17, False)])
@pytest.mark.parametrize("name", ["pm25", "pm10"])
def test_pm_running_24_hour_capture(name: Pollutant, valid_hours: int, has_index: bool) -> None:
    hours = [np.nan] * (24 - valid_hours) + [30.0] * valid_hours
    sub = monitor_daqi(hourly_monitor(name, hours), at=AT).sub_index(name)
    assert (sub.index is not None) is has_index
    assert sub.start == np.datetime64("2026-11-25T00:00:00")
    assert sub.averaging == "24-hour mean"


def test_o3_rounds_the_mean_not_the_hours() -> None:
    # Mean 100.65 → 101 → index 4. Rounding each hour first would give 100.25 → 100 → 3.
    hours = [100.4] * 6 + [101.4] * 2
    sub = monitor_daqi(hourly_monitor("o3", hours, start=T0 + 16 * HOUR), at=AT).sub_index("o3")
    assert sub.concentration == pytest.approx(100.65)
    assert sub.index == 4


def test_so2_uses_the_last_complete_15_minutes() -> None:
    # Readings at 00:10 (the previous period), 00:15, 00:20, 00:25 and 00:30 (in progress).
    end = np.datetime64("2026-11-26T00:30:00", "s")
    ts = end - 4 * FIVE_MIN + np.arange(5) * FIVE_MIN
    series = {"so2": np.array([10.0, 300.0, 300.0, 300.0, 999.0])}
    sub = monitor_daqi(Monitor("m1", ts, series), at=AT).sub_index("so2")
    assert (sub.concentration, sub.index) == (300.0, 4)
    assert sub.start == end - 3 * FIVE_MIN and sub.end == end
    assert sub.averaging == "15-minute mean"


def test_unmeasured_pollutants_say_so() -> None:
    now = monitor_daqi(hourly_monitor("no2", [10.0] * 24), at=AT)
    assert {s.pollutant for s in now.sub_indices} == set(POLLUTANTS)
    assert now.sub_index("pm25").reason is NoIndex.NOT_MEASURED
    assert now.sub_index("so2").reason is NoIndex.NOT_MEASURED
    assert (now.index, now.pollutants) == (1, ("no2",))
    nothing = monitor_daqi(hourly_monitor("no2", [np.nan] * 24), at=AT)
    assert nothing.sub_index("no2").reason is NoIndex.INSUFFICIENT_CAPTURE
    assert nothing.index is None and nothing.pollutant is None and nothing.level is None


def test_overall_index_is_the_highest_and_names_the_pollutant() -> None:
    ts = T0 + np.arange(24) * HOUR
    values = {
        "no2": np.full(24, 210.0),  # 4
        "pm25": np.full(24, 40.0),  # 4
        "o3": np.full(24, 40.0),  # 2
    }
    now = monitor_daqi(Monitor("m1", ts, values, interval_s=3600), at=AT)
    assert now.index == 4
    assert now.pollutants == ("no2", "pm25")  # a tie: both named, in a fixed order
    assert now.pollutant == "no2"
    level = now.level
    assert level is not None and level.band is Band.MODERATE


def test_at_must_be_aware() -> None:
    with pytest.raises(ValueError, match="naive"):
        monitor_daqi(hourly_monitor("no2", [1.0]), at=datetime(2026, 11, 26))


def test_at_accepts_datetime64() -> None:
    monitor = hourly_monitor("no2", [10.0] * 24)
    assert monitor_daqi(monitor, at=np.datetime64("2026-11-25T12:10")).sub_index("no2").end == (
        np.datetime64("2026-11-25T12:00:00")
    )


# --- zones ------------------------------------------------------------------------------------


def test_zone_index_is_the_highest_monitor() -> None:
    background = monitor_daqi(hourly_monitor("no2", [100.0] * 24, monitor_id="b"), at=AT)
    roadside = monitor_daqi(hourly_monitor("no2", [250.0] * 24, monitor_id="r"), at=AT)
    silent = monitor_daqi(hourly_monitor("no2", [np.nan] * 24, monitor_id="s"), at=AT)
    zone = zone_daqi("camden", [background, silent, roadside])
    assert (zone.index, zone.monitor_id, zone.pollutant) == (4, "r", "no2")
    assert zone.reporting == 2
    assert [m.monitor_id for m in zone.monitors] == ["b", "r", "s"]
    level = zone.level
    assert level is not None and level.band is Band.MODERATE


def test_zone_ties_go_to_the_first_monitor_id() -> None:
    a = monitor_daqi(hourly_monitor("no2", [250.0] * 24, monitor_id="a"), at=AT)
    b = monitor_daqi(hourly_monitor("no2", [260.0] * 24, monitor_id="b"), at=AT)
    assert zone_daqi("z", [b, a]).monitor_id == "a"


def test_zone_without_indices() -> None:
    silent = monitor_daqi(hourly_monitor("no2", [np.nan] * 24), at=AT)
    zone = zone_daqi("z", [silent])
    assert (zone.index, zone.monitor_id, zone.pollutant, zone.reporting) == (None, None, None, 0)
    assert zone_daqi("empty", []).index is None


# --- hypothesis: the index of a mean is the table lookup of that mean ---------------------

# Quarter-µg/m³ values: exact in binary, so every summation order gives the same mean.
quarters = st.integers(min_value=0, max_value=400 * 4).map(lambda n: n / 4)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["o3", "pm25", "pm10"]), st.data())
def test_index_of_running_mean_is_the_lookup(name: Pollutant, data: st.DataObject) -> None:
    hours = 8 if name == "o3" else 24
    values = data.draw(
        st.lists(st.one_of(quarters, st.just(np.nan)), min_size=hours, max_size=hours)
    )
    present = [Fraction(v) for v in values if not np.isnan(v)]
    sub = monitor_daqi(
        hourly_monitor(name, values, start=T0 + (24 - hours) * HOUR), at=AT
    ).sub_index(name)
    if len(present) < (6 if name == "o3" else 18):
        assert sub.index is None
        return
    mean = sum(present) / len(present)
    rounded = int(mean + Fraction(1, 2))  # half up, exactly
    expected = next((i + 1 for i, (lo, hi) in enumerate(TABLE[name]) if lo <= rounded <= hi), 10)
    assert sub.index == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(quarters, min_size=24, max_size=24), st.integers(0, 23), st.floats(1, 300))
def test_more_pollution_never_lowers_a_monitor(base: list[float], hour: int, extra: float) -> None:
    before = monitor_daqi(hourly_monitor("pm10", base), at=AT).index
    raised = list(base)
    raised[hour] += extra
    after = monitor_daqi(hourly_monitor("pm10", raised), at=AT).index
    assert before is not None and after is not None and after >= before


# --- the historical daily index ------------------------------------------------------------


def year_of_hours(start: str, hours: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64(start, "s") + np.arange(hours) * HOUR


def test_daily_pm_mean_uses_the_london_day() -> None:
    # 1 July 2026 in London (BST) runs 30 June 23:00 UTC to 1 July 23:00 UTC.
    ts = year_of_hours("2026-06-30T00:00", 72)
    pm = np.full(72, 10.0)
    pm[23:47] = 40.0  # exactly the London day of 1 July: index 4
    monitor = Monitor("m1", ts, {"pm25": pm}, interval_s=3600)
    london = daily_daqi(monitor)
    assert london.day.tolist()[:3] == [
        np.datetime64(d).astype(object) for d in ("2026-06-30", "2026-07-01", "2026-07-02")
    ]
    assert london.index[1] == 4 and london.pollutant[1] == "pm25"
    assert london.concentration["pm25"].value[1] == 40.0
    utc = daily_daqi(monitor, tz="UTC")
    assert utc.index[1] == daqi_index("pm25", (23 * 40 + 10) / 24)  # 38.75 → 39 → 4
    assert utc.concentration["pm25"].value[1] == pytest.approx(38.75)
    assert utc.concentration["pm25"].value[0] == pytest.approx((23 * 10 + 40) / 24)


def test_daily_capture_is_75_percent_of_the_local_day() -> None:
    # 29 March 2026: the clocks go forward, the London day has 23 hours and needs 18.
    ts = year_of_hours("2026-03-28T00:00", 24 * 3)
    pm = np.full(len(ts), 20.0)
    short_day = (ts >= np.datetime64("2026-03-29T00:00")) & (ts < np.datetime64("2026-03-29T23:00"))
    assert short_day.sum() == 23
    pm[np.flatnonzero(short_day)[:5]] = np.nan  # 18 of 23 left
    daily = daily_daqi(Monitor("m1", ts, {"pm10": pm}, interval_s=3600))
    capture = daily.concentration["pm10"]
    assert capture.expected[1] == 23 and capture.needed[1] == 18 and capture.count[1] == 18
    assert daily.index[1] == 2
    pm[np.flatnonzero(short_day)[5]] = np.nan  # 17 of 23
    daily = daily_daqi(Monitor("m1", ts, {"pm10": pm}, interval_s=3600))
    assert daily.index[1] == NO_INDEX and daily.pollutant[1] is None


def test_daily_o3_is_the_highest_8_hour_mean_ending_that_day() -> None:
    # Winter, so London days are UTC days. 8 hours of 130 ending exactly at midnight belong to
    # the first day, not the second.
    ts = year_of_hours("2026-01-10T00:00", 72)
    o3 = np.full(72, 50.0)
    o3[16:24] = 130.0
    daily = daily_daqi(Monitor("m1", ts, {"o3": o3}, interval_s=3600))
    day_1, day_2, day_3 = daily.concentration["o3"].value
    assert day_1 == 130.0  # the window 16:00-24:00
    assert day_2 == (7 * 130 + 50) / 8  # its highest window ends at 01:00
    assert day_3 == 50.0
    assert daily.sub_index["o3"].tolist() == [5, 4, 2]


def test_daily_no2_is_the_highest_hour() -> None:
    ts = year_of_hours("2026-01-10T00:00", 48)
    no2 = np.full(48, 40.0)
    no2[30] = 420.0
    daily = daily_daqi(Monitor("m1", ts, {"no2": no2, "pm25": np.full(48, 20.0)}, interval_s=3600))
    assert daily.sub_index["no2"].tolist() == [1, 7]
    assert daily.index.tolist() == [2, 7]
    assert daily.pollutant.tolist() == ["pm25", "no2"]


def test_daily_index_over_a_year_of_readings() -> None:
    ts = np.arange(
        np.datetime64("2026-01-01T00:00", "s"), np.datetime64("2027-01-01T00:00", "s"), FIVE_MIN
    )
    rng = np.random.default_rng(7)
    monitor = Monitor(
        "m1", ts, {"pm25": rng.gamma(2.0, 6.0, len(ts)), "so2": rng.uniform(0, 20, len(ts))}
    )
    daily = daily_daqi(monitor)
    assert len(daily) == 365
    assert (daily.index >= 1).all()
    assert daily.concentration["so2"].expected[0] == 96
    hourly = hourly_means(monitor.series("pm25"), interval_s=300)
    first_day = float(np.mean(hourly.mean[:24]))
    assert daily.concentration["pm25"].value[0] == pytest.approx(first_day)
    assert daily.sub_index["pm25"][0] == daqi_index("pm25", first_day)


def test_daily_index_of_an_empty_monitor() -> None:
    empty = Monitor("m1", np.array([], "datetime64[s]"), {"pm25": np.array([])})
    assert len(daily_daqi(empty)) == 0
