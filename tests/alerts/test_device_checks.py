"""The pure checks behind the device-health rules: completeness from gaps, the battery latch,
the quarantine share with its minimum count."""

from __future__ import annotations

from alerts.device_checks import (
    BatteryParams,
    GapParams,
    QuarantineParams,
    battery_low,
    completeness,
    quarantine_high,
)

MIN = 60.0


def test_completeness_counts_the_readings_lost_in_gaps() -> None:
    # Every 5 minutes for two hours, but nothing between minutes 5 and 60: 10 of 25 lost.
    times = [0.0, 5 * MIN, *(m * MIN for m in range(60, 121, 5))]
    assert completeness(times, start=0.0, interval=5 * MIN) == 0.6
    # The window has moved on: the part of the hole still inside it counts.
    share = completeness(times, start=30 * MIN, interval=5 * MIN)
    assert share is not None and round(share, 4) == round(1 - (10 * 30 / 55) / 19, 4)


def test_jitter_extra_readings_and_short_records_lose_nothing() -> None:
    jittery = [0.0, 7 * MIN, 10 * MIN, 17 * MIN, 20 * MIN]  # 1.4 intervals: late, not lost
    assert completeness(jittery, start=0.0, interval=5 * MIN) == 1.0
    # A bay reporting each change between its hourly heartbeats.
    chatty = [0.0, 600.0, 700.0, 3600.0, 5000.0, 7200.0]
    assert completeness(chatty, start=0.0, interval=3600.0) == 1.0
    assert completeness([0.0, 3600.0], start=0.0, interval=300.0, min_span=7200.0) is None
    assert completeness([0.0], start=0.0, interval=300.0) is None


def test_a_low_battery_stays_low_until_it_rises_above_the_margin() -> None:
    params = BatteryParams(below_pct=20, clear_margin_pct=5)
    assert [battery_low(p, was_low=False, params=params) for p in (20, 19.9)] == [False, True]
    assert [battery_low(p, was_low=True, params=params) for p in (21, 25, 25.1)] == [
        True,
        True,
        False,
    ]


def test_the_quarantine_share_needs_a_minimum_count() -> None:
    params = QuarantineParams(max_share_pct=10, min_quarantined=5)
    assert not quarantine_high(1, 1, params)  # one bad message in two
    assert not quarantine_high(4, 20, params)
    assert quarantine_high(5, 20, params)
    assert not quarantine_high(5, 45, params)  # exactly 10%: not more than


def test_unusable_parameters_fall_back_to_defaults() -> None:
    assert GapParams.of({"window_hours": "six", "min_completeness_pct": 80}) == GapParams(
        min_completeness_pct=80
    )
    assert BatteryParams.of({"below_pct": -3}) == BatteryParams()
