"""Next-hour availability per zone: the weekly profile in local time, the persistence blend, and
its accuracy on a held-out week of simulated bays against "as many free as now"."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from analytics.parking import (
    LONDON,
    BayInfo,
    Fleet,
    Profile,
    bay_timeline,
    evaluate,
    fit_profiles,
    local_week_slot,
)
from devices.hours import ControlledHours
from simulators.model import Bay
from simulators.signals.calendar import ScalarClock
from simulators.signals.parking import BayModel

HOUR, DAY = 3600.0, 86_400.0
SLOTS = 96  # 15-minute slots a day


def at(text: str, *, fold: int = 0) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON, fold=fold).timestamp()


def slot(text: str, *, fold: int = 0) -> int:
    return int(local_week_slot(at(text, fold=fold), 900.0, LONDON))


def test_slots_are_local_weekday_and_time_in_winter_summer_and_across_the_clock_changes() -> None:
    assert slot("2026-01-05 00:00") == 0  # a Monday
    assert slot("2026-01-05 09:00") == slot("2026-07-06 09:00") == 36  # GMT and BST alike
    assert slot("2026-01-11 23:59") == 7 * SLOTS - 1  # Sunday night
    # Spring: 00:45 GMT, then the next quarter-hour of real time reads 02:00 BST.
    assert slot("2026-03-29 00:45") == 6 * SLOTS + 3
    assert int(local_week_slot(at("2026-03-29 00:45") + 900, 900.0, LONDON)) == 6 * SLOTS + 8
    # Autumn: the repeated hour maps to the same slots both times.
    assert slot("2026-10-25 01:15", fold=0) == slot("2026-10-25 01:15", fold=1) == 6 * SLOTS + 5
    many = local_week_slot(
        np.array([at("2026-01-05 00:00"), at("2026-01-05 09:00")]), 900.0, LONDON
    )
    assert many.tolist() == [0, 36]


def _office_hours_fleet(t0: float, weeks: int) -> Fleet:
    """Four bays occupied 09:00-17:00 local on weekdays, free otherwise: exact, no noise."""
    bays = [BayInfo(f"b{i}", zone="Z") for i in range(4)]
    days = [datetime.fromtimestamp(t0 + d * DAY, LONDON).date() for d in range(7 * weeks)]
    ts, occ = [t0], [False]
    for day in days:
        if day.weekday() < 5:
            ts += [at(f"{day} 09:00"), at(f"{day} 17:00")]
            occ += [True, False]
        ts += [at(f"{day} {h:02d}:30") for h in range(24)]  # hourly heartbeats
        occ += [9 <= h < 17 and day.weekday() < 5 for h in range(24)]
    until = t0 + 7 * weeks * DAY
    return Fleet.of(bays, {b.device_id: bay_timeline(ts, occ, until=until) for b in bays})


def test_the_profile_recovers_an_exact_weekly_pattern_across_a_clock_change() -> None:
    t0 = at("2026-03-16 00:00")  # three weeks around the spring change
    fleet = _office_hours_fleet(t0, 3)
    (profile,) = fit_profiles(fleet, t0, t0 + 21 * DAY, smooth_slots=0).values()
    week = profile.occupancy.reshape(7, SLOTS)
    assert np.all(week[:5, 36:68] == 1.0)  # 09:00-17:00 local, Monday to Friday
    assert np.all(week[:5, :36] == 0.0) and np.all(week[:5, 68:] == 0.0)
    assert np.all(week[5:] == 0.0)
    assert profile.persistence == 0.0  # no deviation from the profile ever
    # An hour before nine the profile says full at nine, whatever the bays show now.
    assert profile.predict(at("2026-04-06 08:00"), 0.0) == pytest.approx(1.0)
    assert profile.available(at("2026-04-06 08:00"), free=4, occupied=0) == pytest.approx(0.0)


def test_prediction_blends_the_current_deviation_and_falls_back_where_it_knows_nothing() -> None:
    occupancy = np.full(7 * SLOTS, 0.5)
    occupancy[36:40] = np.nan  # Monday 09:00-10:00 never observed
    profile = Profile(occupancy, 0.6, HOUR, 900.0, LONDON)
    monday_7 = at("2026-01-05 07:00")
    assert profile.predict(monday_7, 0.9) == pytest.approx(0.5 + 0.6 * 0.4)
    assert profile.predict(monday_7 + HOUR, 0.9) == pytest.approx(0.9)  # target unknown: now
    assert profile.predict(monday_7 + 2 * HOUR, np.nan) == pytest.approx(0.5)  # now unknown
    assert profile.predict(monday_7 + 3 * HOUR, 1.0) == pytest.approx(0.8)
    assert np.isnan(profile.available(monday_7, free=0, occupied=0))
    expected = 0.5 + 0.6 * (0.8 - 0.5)
    assert profile.available(monday_7, free=2, occupied=8) == pytest.approx(10 * (1 - expected))


ZONES = {
    "CPZ-A": ("pay_and_display", 120, "Mon-Sat 08:30-18:30"),
    "CPZ-R": ("residents", None, "Mon-Fri 10:00-12:00"),
    "CPZ-L": ("loading", 30, "Mon-Sat 07:00-19:00"),
}


def test_next_hour_forecast_beats_same_as_now_on_a_held_out_simulated_week() -> None:
    clock = ScalarClock(LONDON)
    t0 = at("2026-03-09 00:00")  # four weeks; the clocks go forward in the third
    split, t1 = t0 + 21 * DAY, t0 + 28 * DAY
    bays, timelines = [], {}
    for zone, (restriction, max_stay, hours) in ZONES.items():
        for i in range(25):
            bay = Bay(
                f"{zone}-{i}",
                street=f"{zone}-S{i % 3}",
                parking_zone=zone,
                restriction=restriction,  # type: ignore[arg-type]
                max_stay_minutes=max_stay,
                controlled_hours=hours,
            )
            events = BayModel(bay.bay_id, bay, 11, clock, heartbeat_s=3600).events(t0, t1)
            info = BayInfo(
                bay.bay_id, zone=zone, street=bay.street, hours=ControlledHours.parse(hours)
            )
            bays.append(info)
            timelines[info.device_id] = bay_timeline(
                [e.ts for e in events], [e.occupied for e in events], until=t1
            )
    fleet = Fleet.of(bays, timelines)
    profiles = fit_profiles(fleet, t0, split, by="zone")  # weeks 1-3
    print(
        "\nnext-hour free bays, 25-bay zones, trained on weeks 1-3, tested on week 4 (MAE, bays):"
    )
    for zone, profile in profiles.items():
        result = evaluate(profile, fleet, split, t1, group=zone)
        print(
            f"  {zone}: model {result.mae_model:.2f}, profile alone {result.mae_profile:.2f}, "
            f"same as now {result.mae_naive:.2f}; persistence {profile.persistence:.2f}, "
            f"mean free {result.mean_free:.1f}, {result.origins} origins"
        )
        assert result.origins == (t1 - HOUR - split) // 900
        assert 0.0 < profile.persistence < 1.0
        assert result.mae_model < 0.9 * result.mae_naive
        assert result.mae_model < result.mae_profile
