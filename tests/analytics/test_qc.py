"""Sensor quality control: range, stuck, spike and drift flags, and the clean call."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.air_quality import (
    Monitor,
    QcConfig,
    QcFlag,
    Series,
    UnknownPollutantError,
    clean,
    clean_monitor,
    drift,
    monitor_daqi,
    reasons,
)
from analytics.air_quality.qc import out_of_range, spikes, stuck

T0 = np.datetime64("2026-03-02T00:00:00", "s")
FIVE_MIN = np.timedelta64(300, "s")
HOUR = np.timedelta64(3600, "s")

Floats = npt.NDArray[np.float64]


def series(values: Floats | list[float], step: np.timedelta64 = FIVE_MIN) -> Series:
    values = np.asarray(values, dtype=np.float64)
    return Series(T0 + np.arange(len(values)) * step, values)


def wiggle(n: int, level: float = 30.0, seed: int = 0) -> Floats:
    """A plausible, never-repeating signal: a slow wave plus noise."""
    rng = np.random.default_rng(seed)
    return level + 5 * np.sin(np.arange(n) / 40) + rng.normal(0, 1.0, n)


# --- range ------------------------------------------------------------------------------------


def test_out_of_range_per_pollutant() -> None:
    values = np.array([-11.0, -9.0, 0.0, 999.0, 1001.0, np.nan])
    cleaned = clean(series(values), "pm25")
    flagged = (cleaned.flags & QcFlag.OUT_OF_RANGE) != 0
    assert flagged.tolist() == [True, False, False, False, True, False]
    assert np.isnan(cleaned.values[[0, 4, 5]]).all()
    # O3 has a lower ceiling than PM2.5; gases a tighter floor.
    assert clean(series([650.0, -6.0]), "o3").flags.tolist() == [1, 1]
    assert out_of_range(np.array([599.0, -4.0]), -5.0, 600.0).tolist() == [False, False]


def test_slightly_negative_readings_pass() -> None:
    values = wiggle(60, level=3.0)
    values[20:25] = [-1.0, -3.0, -4.9, -2.0, -0.5]
    cleaned = clean(series(values), "no2")
    assert not cleaned.flags.any()
    assert cleaned.values[22] == -4.9


def test_range_is_configurable() -> None:
    config = QcConfig(ranges={"no2": (0.0, 100.0)})
    assert clean(series([-1.0, 50.0, 101.0]), "no2", config=config).flags.tolist() == [1, 0, 1]


def test_out_of_range_ignores_missing() -> None:
    assert out_of_range(np.array([np.nan, 5.0]), 0.0, 1.0).tolist() == [False, True]


# --- stuck --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("run", "flagged"), [(23, False), (24, True)])
def test_stuck_after_24_equal_readings(run: int, flagged: bool) -> None:
    values = np.concatenate([wiggle(30), np.full(run, 17.3), wiggle(30, seed=1)])
    flags = clean(series(values), "no2").flags
    assert bool(((flags[30 : 30 + run] & QcFlag.STUCK) != 0).all()) is flagged
    assert not (flags[:30] & QcFlag.STUCK).any()
    assert not (flags[30 + run :] & QcFlag.STUCK).any()


def test_missing_readings_do_not_break_a_stuck_run() -> None:
    values = np.full(30, 12.0)
    values[[5, 10, 15]] = np.nan
    mask = stuck(values, readings=24)
    assert mask[np.isfinite(values)].all()
    assert not mask[np.isnan(values)].any()


def test_stuck_tolerance_and_run_length_are_configurable() -> None:
    values = np.array([10.0, 10.05, 10.0, 10.05, 10.0, 11.0])
    assert stuck(values, readings=5).tolist() == [False] * 6
    assert stuck(values, readings=5, tolerance=0.1).tolist() == [True] * 5 + [False]
    config = QcConfig(stuck_readings=5, stuck_tolerance=0.1)
    assert (clean(series(values), "so2", config=config).flags[:5] == QcFlag.STUCK).all()


def test_too_short_to_be_stuck() -> None:
    assert not stuck(np.full(3, 1.0), readings=24).any()


# --- spikes ------------------------------------------------------------------------------------


def test_a_lone_spike_is_flagged() -> None:
    values = wiggle(100)
    values[50] = 400.0
    cleaned = clean(series(values), "no2")
    assert np.flatnonzero(cleaned.flags).tolist() == [50]
    assert cleaned.flags[50] == QcFlag.SPIKE
    assert np.isnan(cleaned.values[50])


def test_a_sustained_rise_is_not_a_spike() -> None:
    values = np.concatenate([wiggle(60), wiggle(60, level=150.0, seed=2)])
    assert not spikes(values, half_window=6, threshold=6.0, min_jump=20.0).any()


def test_small_jumps_on_a_flat_signal_are_not_spikes() -> None:
    # The MAD of a flat signal is 0; the 20 µg/m³ floor keeps ordinary steps from counting.
    values = np.full(40, 10.0)
    values[20] = 25.0
    assert not spikes(values, half_window=6, threshold=6.0, min_jump=20.0).any()
    values[20] = 31.0
    assert spikes(values, half_window=6, threshold=6.0, min_jump=20.0).tolist() == [
        i == 20 for i in range(40)
    ]


def test_the_newest_reading_waits_for_confirmation() -> None:
    # A jump at the end of a window is one-sided: it counts as a spike until readings after it
    # show the rise is real.
    values = np.concatenate([wiggle(40), [200.0]])
    assert spikes(values, half_window=6, threshold=6.0, min_jump=20.0)[-1]
    confirmed = np.concatenate([values, wiggle(12, level=200.0)])
    assert not spikes(confirmed, half_window=6, threshold=6.0, min_jump=20.0)[40]


def test_spikes_next_to_gaps() -> None:
    values = wiggle(50)
    values[20:30] = np.nan
    values[31] = 300.0
    mask = spikes(values, half_window=6, threshold=6.0, min_jump=20.0)
    assert np.flatnonzero(mask).tolist() == [31]
    assert not spikes(np.full(5, np.nan), half_window=6, threshold=6.0, min_jump=20.0).any()


def test_out_of_range_readings_do_not_shield_spikes() -> None:
    # The 5000 is removed before the spike check, so it cannot drag the median up.
    values = wiggle(60)
    values[30] = 5000.0
    values[31] = 400.0
    flags = clean(series(values), "no2").flags
    assert flags[30] == QcFlag.OUT_OF_RANGE
    assert flags[31] == QcFlag.SPIKE


# --- drift -------------------------------------------------------------------------------------

DAYS = 8


def hourly_days(level: float, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    hours = DAYS * 24
    values = level + 10 * np.sin(np.arange(hours) * 2 * np.pi / 24) + rng.normal(0, 1, hours)
    return Series(T0 + np.arange(hours) * HOUR, values)


def neighbours(n: int = 3) -> list[Series]:
    return [hourly_days(30.0, seed) for seed in range(10, 10 + n)]


def scaled(base: Series, factor: float, days: range) -> Series:
    values = base.values.copy()
    for day in days:
        values[day * 24 : (day + 1) * 24] *= factor
    return Series(base.timestamps, values)


def test_drift_over_three_days_is_flagged() -> None:
    monitor = scaled(hourly_days(30.0, 1), 2.0, range(3, 7))
    report = drift(monitor, neighbours())
    assert report.direction.tolist() == [0, 0, 0, 1, 1, 1, 1, 0]
    assert report.drifting.tolist() == [False] * 3 + [True] * 4 + [False]
    assert report.monitor_median[3] == pytest.approx(2 * report.reference_median[3], rel=0.15)
    config = QcConfig(spike_min_jump=1000)  # the daily wave is not what this test is about
    cleaned = clean(monitor, "pm10", neighbours=neighbours(), config=config)
    drifted = (cleaned.flags & QcFlag.DRIFT) != 0
    assert drifted.tolist() == [3 <= h // 24 < 7 for h in range(DAYS * 24)]
    assert np.isnan(cleaned.values[drifted]).all()


def test_two_days_off_are_not_yet_drift() -> None:
    monitor = scaled(hourly_days(30.0, 1), 2.0, range(3, 5))
    report = drift(monitor, neighbours())
    assert report.direction.tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
    assert not report.drifting.any()


def test_downward_drift_and_direction_changes() -> None:
    low = scaled(hourly_days(30.0, 1), 0.4, range(1, 4))
    assert drift(low, neighbours()).direction.tolist()[1:4] == [-1, -1, -1]
    assert drift(low, neighbours()).drifting.sum() == 3
    # Up, down, up: never three days the same way.
    mixed = scaled(
        scaled(scaled(hourly_days(30.0, 1), 2.0, range(1, 2)), 0.4, range(2, 3)), 2.0, range(3, 4)
    )
    assert not drift(mixed, neighbours()).drifting.any()


def test_small_differences_on_clean_days_are_not_drift() -> None:
    # Twice the neighbours, but at 2 vs 4 µg/m³: under the 5 µg/m³ floor.
    quiet = [Series(s.timestamps, s.values / 15) for s in neighbours()]
    monitor = Series(quiet[0].timestamps, quiet[0].values * 2)
    assert not drift(monitor, quiet).drifting.any()


def test_drift_needs_two_neighbours() -> None:
    monitor = scaled(hourly_days(30.0, 1), 2.0, range(8))
    assert not drift(monitor, neighbours(1)).drifting.any()
    assert np.isnan(drift(monitor, neighbours(1)).reference_median).all()
    assert drift(monitor, neighbours(2)).drifting.all()
    assert drift(monitor, neighbours(1), min_neighbours=1).drifting.all()


def test_one_bad_neighbour_does_not_move_the_reference() -> None:
    monitor = hourly_days(30.0, 1)
    others = [*neighbours(2), scaled(hourly_days(30.0, 20), 3.0, range(8))]
    assert not drift(monitor, others).drifting.any()


def test_days_without_enough_hours_break_the_run() -> None:
    monitor = scaled(hourly_days(30.0, 1), 2.0, range(1, 7))
    values = monitor.values.copy()
    values[4 * 24 : 4 * 24 + 7] = np.nan  # day 4 keeps 17 hours
    report = drift(Series(monitor.timestamps, values), neighbours())
    assert report.direction.tolist()[1:7] == [1, 1, 1, 0, 1, 1]
    assert report.drifting.tolist()[1:7] == [True, True, True, False, False, False]


def test_drift_of_an_empty_series() -> None:
    empty = Series(np.array([], "datetime64[s]"), np.array([]))
    assert len(drift(empty, neighbours()).day) == 0


# --- clean and clean_monitor -------------------------------------------------------------------


def test_flags_combine_and_name_their_reasons() -> None:
    assert reasons(0) == ()
    assert reasons(QcFlag.STUCK | QcFlag.DRIFT) == ("STUCK", "DRIFT")
    assert reasons(int(QcFlag.OUT_OF_RANGE)) == ("OUT_OF_RANGE",)


def test_clean_returns_values_and_flags() -> None:
    values = wiggle(60)
    values[10] = 2000.0
    cleaned_values, flags = clean(series(values), "pm25")
    assert flags.dtype == np.uint8
    assert flags[10] == QcFlag.OUT_OF_RANGE
    assert np.isnan(cleaned_values[10])
    assert np.array_equal(np.delete(cleaned_values, 10), np.delete(values, 10))


def test_clean_refuses_unknown_pollutants() -> None:
    with pytest.raises(UnknownPollutantError):
        clean(series([1.0]), "co")


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="stuck_readings"):
        QcConfig(stuck_readings=1)
    with pytest.raises(ValueError, match="drift_ratio"):
        QcConfig(drift_ratio=0.5)


def test_flagged_readings_do_not_reach_the_index() -> None:
    ts = T0 + np.arange(24 * 12) * FIVE_MIN
    no2 = wiggle(len(ts), level=50.0)
    no2[-3] = 990.0  # one faulty reading in the last hour
    monitor = Monitor("m1", ts, {"no2": no2})
    at = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert monitor_daqi(monitor, at=at).index == 2  # the spike lifts the hour's mean to ~128
    cleaned, flags = clean_monitor(monitor)
    assert flags["no2"][-3] == QcFlag.SPIKE
    sub = monitor_daqi(cleaned, at=at).sub_index("no2")
    assert (sub.index, sub.count) == (1, 11)


def test_clean_monitor_compares_only_the_same_site_type() -> None:
    hours = DAYS * 24
    ts = T0 + np.arange(hours) * HOUR
    base = hourly_days(30.0, 1).values
    own = Monitor(
        "bg1", ts, {"no2": base * 2, "pm25": base}, interval_s=3600, site_type="urban_background"
    )
    background = [
        Monitor(
            f"bg{i}",
            ts,
            {"no2": hourly_days(30.0, i).values},
            interval_s=3600,
            site_type="urban_background",
        )
        for i in (2, 3)
    ]
    roadside = [
        Monitor(
            f"rs{i}",
            ts,
            {"no2": hourly_days(60.0, i).values},
            interval_s=3600,
            site_type="roadside",
        )
        for i in (4, 5, 6)
    ]
    config = QcConfig(spike_min_jump=1000)
    cleaned, flags = clean_monitor(own, neighbours=[own, *background, *roadside], config=config)
    assert ((flags["no2"] & QcFlag.DRIFT) != 0).all()  # twice the background sites
    assert not flags["pm25"].any()  # no neighbour measures PM2.5
    assert np.isnan(cleaned.values["no2"]).all()
    assert cleaned.monitor_id == "bg1" and cleaned.site_type == "urban_background"
    # Against the roadside sites alone (no background peers) nothing can be said.
    _, alone = clean_monitor(own, neighbours=roadside, config=config)
    assert not alone["no2"].any()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=-50, max_value=3000, allow_nan=False)),
        max_size=200,
    )
)
def test_flagged_is_exactly_what_is_blanked(raw: list[float | None]) -> None:
    values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
    cleaned = clean(series(values), "pm10")
    flagged = cleaned.flags != 0
    assert not (flagged & np.isnan(values)).any()  # missing readings carry no flag
    assert np.array_equal(np.isnan(cleaned.values), flagged | np.isnan(values))
    kept = ~np.isnan(cleaned.values)
    assert np.array_equal(cleaned.values[kept], values[kept])
    low, high = -10.0, 2000.0
    assert (cleaned.values[kept] >= low).all() and (cleaned.values[kept] <= high).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_plausible_signal_passes(seed: int) -> None:
    values = wiggle(24 * 12, seed=seed)
    assert not clean(series(values), "no2").flags.any()
