"""Insights: baseload, evening peak, heating, last year; consent; one or two suggestions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from analytics.energy import (
    InsightInputs,
    Measure,
    baseload_w,
    change,
    day_grid,
    evening_share,
    household_insights,
    local_clock,
    peer_median,
    peer_rank,
)

H = 1800


def _grid(first: date, last: date) -> np.ndarray:
    g = day_grid(first, last)
    return np.arange(g.bounds[0], g.bounds[-1], H)


def _profile(start: np.ndarray, night_kwh: float, day_kwh: float) -> np.ndarray:
    _, hour = local_clock(start)
    use = np.where((hour >= 1.0) & (hour < 6.0), night_kwh, day_kwh)
    return use.astype(np.float64)


def test_baseload_is_the_typical_night_minimum_in_watts() -> None:
    start = _grid(date(2026, 1, 5), date(2026, 1, 18))
    use = _profile(start, 0.05, 0.3)  # 0.05 kWh a half-hour = 100 W
    _, hour = local_clock(start)
    kettle = np.flatnonzero(hour == 3.0)[:5]
    use[kettle] = 1.5  # a 3 am kettle does not move the night's minimum
    party = np.flatnonzero((hour >= 2.0) & (hour < 5.0))[:12]  # two nights of 400 W
    use[party] = 0.2
    away = np.flatnonzero((hour >= 2.0) & (hour < 5.0))[-6:]  # no data the last night
    use[away] = np.nan
    result = baseload_w(np.vstack([use, use * 2]), start)
    assert result == pytest.approx([100.0, 200.0])


def test_baseload_needs_enough_nights_and_follows_local_time() -> None:
    start = _grid(date(2026, 6, 1), date(2026, 6, 7))  # seven summer nights (BST)
    _, hour = local_clock(start)
    use = np.where(hour < 12.0, 0.03 + 0.01 * hour, 0.4)  # lowest at local 02:00: 0.05 kWh
    assert baseload_w(use, start)[0] == pytest.approx(100.0)
    # Read in UTC, the window would be local 03:00-06:00 and the minimum 0.06 kWh (120 W).
    assert baseload_w(use, start, tz="UTC")[0] == pytest.approx(80.0 + 40.0)
    assert np.isnan(baseload_w(use, start, min_nights=8)[0])


def test_evening_share_over_complete_days_only() -> None:
    start = _grid(date(2026, 10, 19), date(2026, 10, 31))  # the autumn clock change, 50 halves
    _, hour = local_clock(start)
    use = np.where((hour >= 16.0) & (hour < 19.0), 1.0, 0.1)
    # Every day: 6 evening half-hours at 1.0, the rest at 0.1 (44 of them on the long day).
    days = day_grid(date(2026, 10, 19), date(2026, 10, 31)).half_hours
    expected = 6.0 * len(days) / (6.0 * len(days) + 0.1 * (days - 6).sum())
    gappy = use.copy()
    gappy[np.flatnonzero((hour >= 16.0) & (hour < 19.0))[:6]] = np.nan  # one day's evening lost
    shares = evening_share(np.vstack([use, gappy]), start)
    assert shares[0] == pytest.approx(expected)
    assert shares[1] == pytest.approx((6.0 * 12) / (6.0 * 12 + 0.1 * (days[1:] - 6).sum()))
    assert np.isnan(evening_share(use[: 48 * 3], start[: 48 * 3])[0])  # three days: too few


def test_profile_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="does not match"):
        baseload_w(np.ones((2, 10)), np.arange(9) * H)
    with pytest.raises(ValueError, match="increase"):
        evening_share(np.ones(3), [0, 2 * H, H])


def test_peer_rank_median_and_change() -> None:
    values = np.array([10.0, 20.0, 30.0, 40.0, 50.0, np.nan])
    everyone = np.array([[j for j in range(6) if j != i] for i in range(6)])
    ranks = peer_rank(values, everyone, min_peers=3)
    assert ranks[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.isnan(ranks[5])
    assert np.isnan(peer_rank(values, everyone, min_peers=5)[0])  # four peers with a value
    ties = peer_rank(np.array([5.0, 5.0, 5.0]), np.array([[1, 2], [0, 2], [0, 1]]), min_peers=2)
    assert ties == pytest.approx([0.5, 0.5, 0.5])
    assert peer_median(values, everyone, min_peers=3)[0] == pytest.approx(35.0)
    assert change([110.0, 90.0, 5.0], [100.0, 100.0, 0.0])[:2] == pytest.approx([0.1, -0.1])
    assert np.isnan(change([5.0], [0.0])[0])


def _inputs(**overrides: object) -> InsightInputs:
    base: dict[str, object] = {
        "consent": "half_hourly",
        "baseload_w": Measure(95.0, peer_rank=0.5, peer_median=90.0),
        "evening_share": Measure(0.25, peer_rank=0.5, peer_median=0.24),
        "heating_slope": Measure(1.1, peer_rank=0.5, peer_median=1.0),
        "usage": 300.0,
        "usage_last_year": 295.0,
    }
    base.update(overrides)
    return InsightInputs(**base)  # type: ignore[arg-type]


def test_an_ordinary_home_gets_insights_but_no_suggestion() -> None:
    result = household_insights(_inputs())
    assert [i.name for i in result.insights] == ["heating", "baseload", "evening_peak", "last_year"]
    assert result.unavailable == ()
    assert result.suggestions == ()
    baseload = next(i for i in result.insights if i.name == "baseload")
    assert baseload.text == "Always-on use at night: 95 W, about the same as similar homes"
    heating = next(i for i in result.insights if i.name == "heating")
    assert heating.text == (
        "Heating: 1.10 kWh more on each degree day, about the same as similar homes"
    )


def test_a_high_night_load_suggests_standby_with_the_saving() -> None:
    result = household_insights(
        _inputs(baseload_w=Measure(250.0, peer_rank=0.92, peer_median=110.0))
    )
    assert [s.name for s in result.suggestions] == ["baseload"]
    text = result.suggestions[0].text
    assert "250 W even in the middle of the night" in text
    assert "standby" in text
    assert f"{(250.0 - 110.0) * 8766 / 1000:,.0f} kWh a year" in text  # 1,227
    insight = next(i for i in result.insights if i.name == "baseload")
    assert "more than 92% of similar homes" in insight.text


def test_at_most_two_suggestions_in_the_tables_order() -> None:
    result = household_insights(
        _inputs(
            baseload_w=Measure(250.0, peer_rank=0.8, peer_median=110.0),
            evening_share=Measure(0.4, peer_rank=0.9, peer_median=0.25),
            heating_slope=Measure(2.0, peer_rank=0.76, peer_median=1.0),
            usage=400.0,
            usage_last_year=300.0,
        )
    )
    assert [s.name for s in result.suggestions] == ["heating", "baseload"]
    three = household_insights(
        _inputs(evening_share=Measure(0.4, peer_rank=0.9), usage=400.0, usage_last_year=300.0)
    )
    assert [s.name for s in three.suggestions] == ["evening_peak", "last_year"]
    assert "33% more than in the same period last year" in three.suggestions[1].text
    assert "40% of your use falls between 4 pm and 7 pm" in three.suggestions[0].text


def test_consent_decides_what_may_be_said() -> None:
    daily = household_insights(
        _inputs(consent="daily", baseload_w=Measure(500.0, peer_rank=1.0, peer_median=100.0))
    )
    assert {i.name for i in daily.insights} == {"heating", "last_year"}
    reasons = {u.name: u.reason for u in daily.unavailable}
    assert reasons == {
        "baseload": "needs half-hourly readings; this home shares daily readings",
        "evening_peak": "needs half-hourly readings; this home shares daily readings",
    }
    assert all(s.name != "baseload" for s in daily.suggestions)  # nothing from data not shared
    monthly = household_insights(_inputs(consent="monthly"))
    assert {i.name for i in monthly.insights} == {"last_year"}
    assert {u.name: u.reason for u in monthly.unavailable}["heating"] == (
        "needs daily readings; this home shares monthly readings"
    )


def test_missing_inputs_are_unavailable_with_the_reason() -> None:
    result = household_insights(
        _inputs(baseload_w=None, evening_share=Measure(float("nan")), usage_last_year=None)
    )
    reasons = {u.name: u.reason for u in result.unavailable}
    assert reasons == {
        "baseload": "not enough half-hourly readings this period",
        "evening_peak": "not enough half-hourly readings this period",
        "last_year": "no comparable use for the same period last year",
    }
