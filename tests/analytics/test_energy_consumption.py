"""Consumption from cumulative registers: resets, rollovers, gaps, duplicates, clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.energy import (
    GAS,
    RegisterRules,
    Step,
    clean_readings,
    daily,
    day_grid,
    fleet_daily,
    half_hourly,
    steps,
)

H = 1800
LONDON = ZoneInfo("Europe/London")
MIDNIGHT_JAN = int(datetime(2026, 1, 12, tzinfo=UTC).timestamp())  # GMT: local = UTC
SPRING = date(2026, 3, 29)  # clocks go forward: 46 half-hours
AUTUMN = date(2026, 10, 25)  # clocks go back: 50 half-hours


def at(*halves: int) -> list[int]:
    return [MIDNIGHT_JAN + H * k for k in halves]


def test_usage_is_the_difference_between_consecutive_readings() -> None:
    s = steps(at(0, 1, 2, 3), [12873.412, 12873.612, 12874.012, 12874.112])
    assert s.usage == pytest.approx([0.2, 0.4, 0.1])
    assert list(s.kind) == [Step.ADVANCE] * 3
    assert list(s.start) == at(0, 1, 2) and list(s.end) == at(1, 2, 3)


def test_a_reset_counts_from_the_new_value() -> None:
    # Meter exchanged between 01:00 and 01:30: the new register restarted at 0 and read 0.3.
    s = steps(at(0, 1, 2, 3, 4), [100.0, 100.5, 101.2, 0.3, 0.9])
    assert s.usage == pytest.approx([0.5, 0.7, 0.3, 0.6])
    assert list(s.kind) == [Step.ADVANCE, Step.ADVANCE, Step.RESET, Step.ADVANCE]


def test_a_rollover_wraps_at_the_registers_modulus() -> None:
    five_digits = RegisterRules(rollover_at=100_000.0)  # shows up to 99,999.9
    s = steps(at(0, 1, 2, 3), [99_999.5, 99_999.9, 0.4, 1.0], rules=five_digits)
    assert s.usage == pytest.approx([0.4, 0.5, 0.6])
    assert s.kind[1] == Step.ROLLOVER
    # Without a modulus the same drop reads as a reset: only the new value counts.
    plain = steps(at(0, 1, 2, 3), [99_999.5, 99_999.9, 0.4, 1.0])
    assert plain.usage == pytest.approx([0.4, 0.4, 0.6])
    assert plain.kind[1] == Step.RESET
    # A drop far from the top is no wrap (it would mean 50 MWh in half an hour): a reset.
    far = steps(at(0, 1), [50_000.0, 0.4], rules=five_digits)
    assert far.kind[0] == Step.RESET and far.usage[0] == pytest.approx(0.4)


def test_incredible_steps_are_unknown_never_guessed() -> None:
    # A jump of 4,900 kWh in half an hour, then a "reset" to 20,000 (a new meter that did not
    # start at 0): neither can be read, both are NaN, and the steps around them still count.
    s = steps(at(0, 1, 2, 3, 4, 5), [100.0, 100.2, 5000.0, 5000.3, 20_000.0, 20_000.4])
    assert s.usage[0] == pytest.approx(0.2)
    assert np.isnan(s.usage[1]) and s.kind[1] == Step.IMPLAUSIBLE
    assert s.usage[2] == pytest.approx(0.3)
    assert s.kind[3] == Step.IMPLAUSIBLE  # 5000.3 -> 20000: +15 MWh
    drop = steps(at(0, 1), [30_000.0, 20_000.0])
    assert np.isnan(drop.usage[0]) and drop.kind[0] == Step.IMPLAUSIBLE


def test_gas_has_its_own_ceiling() -> None:
    s = steps(at(0, 1, 2), [500.0, 502.0, 506.0], rules=GAS)  # 6 m³/h: 3 m³ a half-hour
    assert s.usage[0] == pytest.approx(2.0)
    assert np.isnan(s.usage[1])


def test_a_gap_is_one_lump_missing_from_the_half_hours() -> None:
    # Readings at 00:00, 00:30, then nothing until 02:00: 1.5 kWh over three half-hours.
    ts, reg = at(0, 1, 4, 5), [10.0, 10.2, 11.7, 11.8]
    hh = half_hourly(ts, reg)
    assert list(hh.start) == at(0, 1, 2, 3, 4)
    assert hh.usage[0] == pytest.approx(0.2) and hh.usage[4] == pytest.approx(0.1)
    assert np.isnan(hh.usage[1:4]).all()
    day = daily(ts, reg, first_day=date(2026, 1, 12), last_day=date(2026, 1, 12))
    assert day.usage[0] == pytest.approx(1.8)  # the lump lies inside the day: the total is exact
    assert day.covered[0] == 5 and day.lumped[0] == 3
    assert day.missing[0] == 48 - 5
    assert not day.complete[0]


def test_a_gap_across_midnight_leaves_both_days_short_and_says_so() -> None:
    # Full day on the 12th until 23:00, next reading 01:00 on the 13th, then full to midnight.
    halves = [*range(0, 47), *range(50, 97)]
    reg = 1000.0 + 0.25 * np.array(halves, dtype=np.float64)
    day = daily(at(*halves), reg)
    assert list(day.days) == [np.datetime64("2026-01-12"), np.datetime64("2026-01-13")]
    assert day.usage == pytest.approx([46 * 0.25, 46 * 0.25])  # the 1 kWh lump is in neither
    assert list(day.missing) == [2, 2]
    assert list(day.lumped) == [0, 0]
    assert np.isnan(day.complete_usage()).all()


def test_duplicates_and_disorder_do_not_change_anything() -> None:
    ts = at(0, 1, 2, 3, 4)
    reg = [5.0, 5.5, 6.5, 6.6, 7.0]
    expected = half_hourly(ts, reg).usage
    messy_ts = [ts[3], ts[0], ts[2], ts[2], ts[4], ts[1], ts[0]]
    messy_reg = [reg[3], reg[0], reg[2], reg[2], reg[4], reg[1], reg[0]]
    assert np.array_equal(half_hourly(messy_ts, messy_reg).usage, expected)


def test_readings_snap_to_the_nearest_boundary_and_conflicts_keep_the_largest() -> None:
    boundary, value = clean_readings(
        [MIDNIGHT_JAN + 7, MIDNIGHT_JAN + H - 12, MIDNIGHT_JAN + H + 3, MIDNIGHT_JAN + 2 * H],
        [1.0, 1.4, 1.5, np.nan],
    )
    assert list(boundary) == at(0, 1)
    assert list(value) == [1.0, 1.5]


def _constant_use(first: date, days: int, per_half_hour: float) -> tuple[list[int], list[float]]:
    grid = day_grid(first, date.fromordinal(first.toordinal() + days - 1))
    ts = np.arange(grid.bounds[0], grid.bounds[-1] + 1, H)
    return ts.tolist(), (500.0 + per_half_hour * np.arange(ts.size)).tolist()


@pytest.mark.parametrize(("day", "halves"), [(SPRING, 46), (AUTUMN, 50)])
def test_clock_change_days_have_46_or_50_half_hours(day: date, halves: int) -> None:
    first = date.fromordinal(day.toordinal() - 1)
    ts, reg = _constant_use(first, 3, 0.1)
    d = daily(ts, reg)
    assert list(d.half_hours) == [48, halves, 48]
    assert d.usage == pytest.approx([4.8, halves * 0.1, 4.8])
    assert d.complete.all()
    # The half-hours are UTC instants: the clock-change day's first one is at local midnight.
    assert ts[48] == int(datetime(day.year, day.month, day.day, tzinfo=LONDON).timestamp())
    assert len(half_hourly(ts, reg).usage) == 96 + halves


def test_days_default_to_those_the_readings_span() -> None:
    d = daily(at(10, 11, 12), [1.0, 2.0, 3.0])
    assert list(d.days) == [np.datetime64("2026-01-12")]
    with pytest.raises(ValueError, match="fewer than two readings"):
        daily(at(10), [1.0])
    empty = daily([], [], first_day=date(2026, 1, 1), last_day=date(2026, 1, 2))
    assert np.isnan(empty.usage).all() and list(empty.missing) == [48, 48]


def test_the_fleet_form_follows_the_same_rules() -> None:
    end_of_day = np.array(
        [
            [100.0, 110.0, 121.0, 133.0, 146.0],  # steady
            [100.0, 110.0, np.nan, 133.0, 146.0],  # a missing day leaves the next unknown too
            [200.0, 210.0, 4.0, 16.0, 30.0],  # a reset: counts from the new value
            [99_990.0, 99_998.0, 6.0, 14.0, 24.0],  # a rollover
            [100.0, 110.0, 5_000.0, 5_010.0, 5_020.0],  # an incredible jump
        ]
    )
    fleet = fleet_daily(end_of_day, rules=RegisterRules(rollover_at=100_000.0))
    nan = np.nan
    expected = [
        [nan, 10.0, 11.0, 12.0, 13.0],
        [nan, 10.0, nan, nan, 13.0],
        [nan, 10.0, 4.0, 12.0, 14.0],
        [nan, 8.0, 8.0, 8.0, 10.0],
        [nan, 10.0, nan, 10.0, 10.0],
    ]
    np.testing.assert_allclose(fleet.usage, expected)
    assert list(fleet.missing_days) == [1, 3, 1, 1, 2]
    assert list(fleet.resets) == [0, 0, 1, 0, 0]
    assert fleet.step[3, 2] == Step.ROLLOVER and fleet.step[4, 2] == Step.IMPLAUSIBLE


def test_the_fleet_form_agrees_with_the_per_household_days() -> None:
    rng = np.random.default_rng(3)
    first, last = date(2026, 3, 27), date(2026, 4, 2)
    grid = day_grid(first, last)  # across the spring clock change
    ts = np.arange(grid.bounds[0], grid.bounds[-1] + 1, H)
    registers = 1000.0 * np.arange(4)[:, None] + np.cumsum(
        np.c_[np.zeros(4), rng.gamma(2.0, 0.1, (4, ts.size - 1))], axis=1
    )
    # End-of-day registers: the reading at each local midnight (the end of the day before).
    ends = registers[:, np.searchsorted(ts, grid.bounds)]
    fleet = fleet_daily(ends).usage[:, 1:]
    for h, reg in enumerate(registers):
        per_household = daily(ts, reg, first_day=first, last_day=last).usage
        np.testing.assert_allclose(fleet[h], per_household, rtol=1e-9)


def test_daily_maxima_across_a_reset_keep_the_two_day_total() -> None:
    # Day 2: 10 kWh until a reset at 14:00 at 30,000, then 5 kWh on the new register; day 3:
    # 10 kWh more. The rollups give each day's maximum, the pre-reset value on day 2.
    maxima = np.array([[29_990.0, 30_000.0, 15.0]])
    usage = fleet_daily(maxima).usage[0]
    assert usage[1:] == pytest.approx([10.0, 15.0])  # split approximately, total exact
    assert usage[1:].sum() == pytest.approx(10.0 + 5.0 + 10.0)


# Properties -------------------------------------------------------------------------------

increments = st.lists(
    st.floats(min_value=0.0, max_value=5.0, allow_nan=False), min_size=2, max_size=120
)


def _series(incs: list[float], start: float = 4321.0) -> tuple[np.ndarray, np.ndarray]:
    reg = start + np.r_[0.0, np.cumsum(incs)]
    ts = MIDNIGHT_JAN + H * np.arange(reg.size)
    return ts, reg


@settings(max_examples=60, deadline=None)
@given(incs=increments, keep=st.data())
def test_total_is_last_minus_first_without_resets(incs: list[float], keep: st.DataObject) -> None:
    ts, reg = _series(incs)
    # Drop readings at random (gaps), never the first or the last.
    mask = np.array(keep.draw(st.lists(st.booleans(), min_size=reg.size, max_size=reg.size)))
    mask[0] = mask[-1] = True
    s = steps(ts[mask], reg[mask])
    assert np.isfinite(s.usage).all()
    assert s.usage.sum() == pytest.approx(reg[-1] - reg[0], rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(incs=increments, seed=st.integers(0, 2**32 - 1), resets=st.sets(st.integers(1, 119)))
def test_order_and_duplicates_never_matter(incs: list[float], seed: int, resets: set[int]) -> None:
    ts, reg = _series(incs)
    for r in resets:
        if r < reg.size:
            reg[r:] -= reg[r] - 0.01 * r  # restart near zero
    rng = np.random.default_rng(seed)
    extra = rng.integers(0, reg.size, size=rng.integers(0, 10))
    order = rng.permutation(reg.size + extra.size)
    messy_ts, messy_reg = np.r_[ts, ts[extra]][order], np.r_[reg, reg[extra]][order]
    for a, b in [(half_hourly(ts, reg), half_hourly(messy_ts, messy_reg))]:
        assert np.array_equal(a.start, b.start)
        assert np.array_equal(a.usage, b.usage, equal_nan=True)
    assert np.array_equal(daily(ts, reg).usage, daily(messy_ts, messy_reg).usage, equal_nan=True)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0.0, max_value=120_000.0, allow_nan=False), min_size=2, max_size=60
    ),
    rollover=st.sampled_from([None, 100_000.0]),
)
def test_usage_is_never_negative(values: list[float], rollover: float | None) -> None:
    ts = MIDNIGHT_JAN + H * np.arange(len(values))
    s = steps(ts, values, rules=RegisterRules(rollover_at=rollover))
    known = s.usage[np.isfinite(s.usage)]
    assert (known >= 0).all()
    assert (known <= 12.0 + 1e-9).all()  # 24 kWh an hour, half an hour


@settings(max_examples=40, deadline=None)
@given(incs=st.lists(st.floats(0.0, 2.0, allow_nan=False), min_size=96 * 2, max_size=96 * 2))
def test_complete_days_sum_to_their_half_hours(incs: list[float]) -> None:
    ts, reg = _series(incs)
    d = daily(ts, reg)
    hh = half_hourly(ts, reg)
    assert d.complete.all()
    assert d.usage.sum() == pytest.approx(np.nansum(hh.usage), rel=1e-9, abs=1e-9)
