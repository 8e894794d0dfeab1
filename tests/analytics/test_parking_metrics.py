"""Parking metrics over a window: occupancy without unknown time, peak, turnover, dwell with
stays attributed to their arrival, overstay counting controlled time only; controlled hours as
UTC intervals (clock changes included); the live overstay detector; a month of 5,000 bays."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.parking import (
    LONDON,
    BayInfo,
    ControlledTime,
    Fleet,
    Overstay,
    Peak,
    Reading,
    StateConfig,
    Timeline,
    bay_timeline,
    overstay,
    overstay_at,
    peak_occupancy,
    session_overstays,
    sessions,
    window_metrics,
)
from devices.hours import ControlledHours
from simulators.model import Bay
from simulators.signals.calendar import ScalarClock
from simulators.signals.parking import BayModel

HOUR, DAY = 3600.0, 86_400.0
MON_SAT = ControlledHours.parse("Mon-Sat 08:30-18:30")
NEVER = ControlledHours.parse("none")


def at(text: str, tz: ZoneInfo = LONDON, *, fold: int = 0) -> float:
    """A local time in London as a POSIX instant (``fold=1``: the second of a repeated hour)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold).timestamp()


def observed(
    changes: list[tuple[str, bool]], end: str, *, silent: tuple[str, str] | None = None
) -> tuple[list[float], list[bool]]:
    """Readings: each change, and an hourly heartbeat repeating the value (none while silent)."""
    points = [(at(t), v) for t, v in changes]
    ts, occ = [], []
    quiet = (at(silent[0]), at(silent[1])) if silent else (0.0, 0.0)
    for i, (t, v) in enumerate(points):
        stop = points[i + 1][0] if i + 1 < len(points) else at(end)
        ts.append(t)
        occ.append(v)
        beat = t + HOUR
        while beat < stop:
            if not quiet[0] <= beat < quiet[1]:
                ts.append(beat)
                occ.append(v)
            beat += HOUR
    return ts, occ


# Monday 5 January 2026 (GMT: local time is UTC).
A = BayInfo("bay-a", zone="Z1", street="Camden Road", max_stay_minutes=120, hours=MON_SAT)
B = BayInfo("bay-b", zone="Z1", street="Agar Grove", hours=NEVER)
A_READINGS = observed(
    [
        ("2026-01-05 07:00", False),
        ("2026-01-05 09:00", True),
        ("2026-01-05 10:00", False),
        ("2026-01-05 11:00", True),
        ("2026-01-05 14:00", False),  # three hours: an overstay since 13:10
        ("2026-01-05 17:50", True),  # 40 controlled minutes tonight, 30 tomorrow: not one
        ("2026-01-06 09:00", False),
    ],
    "2026-01-06 10:00",
)
B_READINGS = observed(
    [("2026-01-05 07:00", False), ("2026-01-05 15:00", True), ("2026-01-05 16:00", False)],
    "2026-01-06 10:00",
    silent=("2026-01-05 10:30", "2026-01-05 15:00"),  # unknown from 12:10 until 15:00
)


def fleet(until: str = "2026-01-06 10:00") -> Fleet:
    end = at(until)
    return Fleet.of(
        [A, B],
        {
            "bay-a": bay_timeline(*A_READINGS, until=end),
            "bay-b": bay_timeline(*B_READINGS, until=end),
        },
    )


def test_a_day_of_two_bays_by_hand() -> None:
    t0, t1 = at("2026-01-05 08:00"), at("2026-01-05 18:00")
    zone = window_metrics(fleet(), t0, t1, by="zone")["Z1"]
    unknown_b = at("2026-01-05 15:00") - at("2026-01-05 12:10")
    occupied = 1 * HOUR + 3 * HOUR + 600 + 1 * HOUR  # A: 09-10, 11-14, 17:50-18:00; B: 15-16
    assert zone.bays == 2 and zone.window_s == 2 * 10 * HOUR
    assert zone.observed_s == 2 * 10 * HOUR - unknown_b and zone.unknown_s == unknown_b
    assert zone.occupied_s == occupied
    assert zone.occupancy == pytest.approx(occupied / (20 * HOUR - unknown_b))
    # B's 15:00 session follows unknown time: its arrival was not seen, so it is not counted.
    assert zone.arrivals == 3 and zone.completed == 3 and zone.open == 0
    assert zone.turnover == pytest.approx(3 / ((20 * HOUR - unknown_b) / DAY))
    stays = [HOUR, 3 * HOUR, at("2026-01-06 09:00") - at("2026-01-05 17:50")]  # full length
    assert zone.dwell_mean_s == pytest.approx(np.mean(stays))
    assert zone.dwell_median_s == 3 * HOUR
    assert zone.overstays == 1 and zone.overstay_rate == pytest.approx(1 / 3)

    streets = window_metrics(fleet(), t0, t1, by="street")
    assert streets["Agar Grove"].occupancy == pytest.approx(HOUR / (10 * HOUR - unknown_b))
    assert streets["Agar Grove"].overstay_rate is None  # no maximum stay there
    assert streets["Agar Grove"].dwell_mean_s is None
    everything = window_metrics(fleet(), t0, t1, by="all")["all"]
    assert everything == zone


def test_sessions_count_where_they_start_and_open_ones_have_no_length_yet() -> None:
    t0, t1 = at("2026-01-05 12:00"), at("2026-01-05 18:00")
    a = window_metrics(fleet(), t0, t1, by="bay")["bay-a"]
    # 11:00-14:00 fills two hours of this window but arrived in the last one.
    assert a.occupied_s == 2 * HOUR + 600
    assert a.arrivals == 1 and a.dwell_mean_s == at("2026-01-06 09:00") - at("2026-01-05 17:50")
    # Known only until 20:00: the 17:50 car is still there, an open session.
    short = window_metrics(fleet("2026-01-05 20:00"), t0, t1, by="bay")["bay-a"]
    assert short.arrivals == 1 and short.completed == 0 and short.open == 1
    assert short.dwell_mean_s is None and short.overstay_rate is None


def test_an_open_session_already_past_its_limit_is_an_overstay() -> None:
    ts, occ = observed(
        [("2026-01-05 08:00", False), ("2026-01-05 09:00", True)], "2026-01-05 12:00"
    )
    one = Fleet.of([A], {"bay-a": bay_timeline(ts, occ, until=at("2026-01-05 12:00"))})
    m = window_metrics(one, at("2026-01-05 08:00"), at("2026-01-05 12:00"), by="bay")["bay-a"]
    assert m.open == 1 and m.overstays == 1 and m.overstay_rate == 1.0


def test_controlled_hours_only() -> None:
    t0, t1 = at("2026-01-05 08:00"), at("2026-01-05 18:00")
    m = window_metrics(fleet(), t0, t1, by="bay", controlled_only=True)
    assert m["bay-a"].window_s == 9.5 * HOUR  # 08:30 to 18:00
    assert m["bay-a"].occupied_s == 1 * HOUR + 3 * HOUR + 600
    assert m["bay-a"].arrivals == 3
    assert m["bay-b"].window_s == 0.0 and m["bay-b"].occupancy is None


def test_peak_is_the_busiest_slot_of_observed_bays() -> None:
    t0, t1 = at("2026-01-05 08:00"), at("2026-01-05 18:00")
    peaks = peak_occupancy(fleet(), t0, t1, by="zone")
    # From 12:15 B is unknown and A occupied: all observed bays full.
    assert peaks == {"Z1": Peak(1.0, at("2026-01-05 12:15"))}
    nobody = Fleet.of([A], {})
    assert peak_occupancy(nobody, t0, t1, by="zone") == {"Z1": None}


def test_a_clock_change_day_is_23_hours_long_and_breaks_nothing() -> None:
    ts, occ = observed(
        [("2026-03-28 20:00", False), ("2026-03-29 09:00", True), ("2026-03-29 12:00", False)],
        "2026-03-30 06:00",
    )
    one = Fleet.of([A], {"bay-a": bay_timeline(ts, occ, until=at("2026-03-30 06:00"))})
    m = window_metrics(one, at("2026-03-29 00:00"), at("2026-03-30 00:00"), by="bay")["bay-a"]
    assert m.window_s == 23 * HOUR and m.observed_s == 23 * HOUR
    assert m.occupied_s == 3 * HOUR
    assert m.overstays == 0  # Sunday: not controlled


# -- controlled hours as instants ----------------------------------------------------------

PATTERNS = [
    "Mon-Sat 08:30-18:30",
    "Mon-Fri 07:00-10:00 16:00-19:00; Sat 10:00-12:00",
    "Fri-Mon 22:00-24:00",
    "At any time",
    "Mon-Sun 00:30-02:30",  # over both clock changes' missing and repeated hours
    "Sun 01:30-03:00",
]
SPRING, AUTUMN = at("2026-03-29 00:00"), at("2026-10-25 00:00")
instants = st.one_of(
    st.floats(at("2026-01-01 00:00"), at("2026-12-31 00:00")),
    st.floats(SPRING - DAY, SPRING + 2 * DAY),
    st.floats(AUTUMN - DAY, AUTUMN + 2 * DAY),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATTERNS), instants)
def test_controlled_intervals_agree_with_the_hours_parser(text: str, t: float) -> None:
    hours = ControlledHours.parse(text)
    table = ControlledTime.over(hours, t - 3 * DAY, t + 3 * DAY)
    weekday, hour = ScalarClock(LONDON).weekday_hour(t)
    assert bool(table.active(t)) == hours.active(weekday, hour)
    # elapsed() is the integral of active(), and passes() its inverse.
    total = float(table.elapsed(t))
    assert float(table.elapsed(table.passes(total))) == pytest.approx(total)


def test_controlled_time_on_the_clock_change_days_follows_the_wall_clock() -> None:
    early = ControlledHours.parse("Sun 01:30-03:00")
    spring = ControlledTime.over(early, SPRING, SPRING + DAY)
    # The clock jumps from 01:00 GMT to 02:00 BST: controlled from 02:00 BST, one real hour.
    assert list(zip(spring.start, spring.end, strict=True)) == [
        (at("2026-03-29 02:00"), at("2026-03-29 03:00"))
    ]
    autumn = ControlledTime.over(early, AUTUMN, AUTUMN + DAY)
    # 01:30-02:00 BST; the clock goes back to 01:00 and reads 01:30 again half an hour later.
    assert list(zip(autumn.start, autumn.end, strict=True)) == [
        (at("2026-10-25 01:30", fold=0), at("2026-10-25 01:00", fold=1)),
        (at("2026-10-25 01:30", fold=1), at("2026-10-25 03:00")),
    ]
    week = ControlledTime.over(MON_SAT, at("2026-03-23 00:00"), at("2026-03-30 00:00"))
    assert float(week.elapsed(at("2026-03-30 00:00"))) == 60 * HOUR
    any_time = ControlledHours.parse("At any time")
    days = ControlledTime.over(any_time, SPRING - DAY, AUTUMN + 2 * DAY)
    assert days.start.size == 1  # one merged interval across both changes
    assert float(days.elapsed(SPRING + 23 * HOUR) - days.elapsed(SPRING)) == 23 * HOUR
    assert float(days.elapsed(AUTUMN + 25 * HOUR) - days.elapsed(AUTUMN)) == 25 * HOUR


# -- overstay ------------------------------------------------------------------------------


def test_parked_at_six_in_a_bay_controlled_until_half_past_overstays_next_morning() -> None:
    arrived = at("2026-01-05 18:00")
    assert overstay(A, arrived, at("2026-01-06 08:00")) is None  # 30 controlled minutes
    assert overstay_at(A, arrived) == at("2026-01-06 10:10")  # 30 + 100 = 120 + 10 grace
    assert overstay(A, arrived, at("2026-01-06 10:10")) is None  # at the limit, not past it
    assert overstay(A, arrived, at("2026-01-06 10:11")) == Overstay(
        at("2026-01-06 10:10"), 131 * 60.0, 130 * 60.0
    )
    # Sunday is not controlled: from Saturday 18:00 the stay resumes on Monday.
    assert overstay_at(A, at("2026-01-10 18:00")) == at("2026-01-12 10:10")
    # In summer the same local times, an hour earlier in UTC.
    assert overstay_at(A, at("2026-06-01 18:00")) == at("2026-06-02 10:10")
    assert overstay_at(A, at("2026-06-01 18:00"), grace_s=0) == at("2026-06-02 10:00")


def test_no_maximum_stay_or_no_controlled_hours_never_overstays() -> None:
    arrived = at("2026-01-05 09:00")
    assert overstay(B, arrived, arrived + 30 * DAY) is None
    assert overstay_at(B, arrived) is None
    never = BayInfo("bay-n", max_stay_minutes=60, hours=NEVER)
    assert (
        overstay(never, arrived, arrived + 30 * DAY) is None and overstay_at(never, arrived) is None
    )
    # An hour a week: a day's stay is used up in half a year, a week's not within the search.
    weekly = ControlledHours.parse("Sun 10:00-11:00")
    rare = BayInfo("bay-r", max_stay_minutes=24 * 60, hours=weekly)
    found = overstay_at(rare, arrived)
    assert found is not None and 24 * 7 * DAY < found - arrived < 26 * 7 * DAY
    assert (
        overstay_at(BayInfo("bay-w", max_stay_minutes=7 * 24 * 60, hours=weekly), arrived) is None
    )


def test_an_any_time_limit_across_the_spring_clock_change_counts_real_time() -> None:
    bay = BayInfo("bay-t", max_stay_minutes=180, hours=ControlledHours.parse("At any time"))
    arrived = at("2026-03-28 23:30")
    assert overstay_at(bay, arrived) == arrived + 3 * HOUR + 600  # 03:40 BST, not 02:40


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(PATTERNS),
    st.integers(15, 600),
    st.floats(at("2026-01-01 00:00"), at("2026-12-01 00:00")),
    st.floats(0, 3 * DAY),
)
def test_the_live_detector_the_timer_and_the_vectorised_sessions_agree(
    text: str, minutes: int, arrived: float, stay: float
) -> None:
    bay = BayInfo("bay", max_stay_minutes=minutes, hours=ControlledHours.parse(text))
    due = overstay_at(bay, arrived)
    assert due is not None
    now = arrived + stay
    found = overstay(bay, arrived, now)
    assert (found is not None) == (now > due)
    if found is not None:
        assert found.since == pytest.approx(due)
    used, since = session_overstays((bay,), np.array([0]), np.array([arrived]), np.array([now]))
    assert np.isnan(since[0]) == (found is None)
    if found is not None:
        assert since[0] == pytest.approx(found.since) and used[0] == pytest.approx(
            found.controlled_s
        )


# -- vectorised over a fleet, checked against plain loops ------------------------------------

SMALL = StateConfig(debounce_s=60, heartbeat_s=600, tolerance_s=60)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=30), min_size=1, max_size=5
    ),
    st.integers(0, 30),
    st.integers(1, 30),
)
def test_window_metrics_equal_plain_loops_over_the_timelines(
    per_bay: list[list[tuple[int, bool]]], start: int, length: int
) -> None:
    base = at("2026-01-05 06:00")
    bays = [
        BayInfo(f"b{i}", zone=f"Z{i % 2}", max_stay_minutes=30, hours=MON_SAT)
        for i in range(len(per_bay))
    ]
    until = base + 45 * 600.0
    timelines: dict[str, Timeline] = {}
    for bay, raw in zip(bays, per_bay, strict=True):
        readings = [Reading(base + 600.0 * k, v) for k, v in raw]
        timelines[bay.device_id] = bay_timeline(
            [r.ts for r in readings], [r.occupied for r in readings], until=until, config=SMALL
        )
    t0, t1 = base + 600.0 * start, base + 600.0 * (start + length)
    got = window_metrics(Fleet.of(bays, timelines), t0, t1, by="bay")
    for bay in bays:
        tl = timelines[bay.device_id]
        occ = seen = 0.0
        arrivals, stays = 0, []
        for i in range(tl.code.size):
            overlap = max(0.0, min(tl.end[i], t1) - max(tl.start[i], t0))
            seen += overlap * (tl.code[i] != 2)
            occ += overlap * (tl.code[i] == 1)
            if tl.code[i] == 1 and i > 0 and tl.code[i - 1] == 0 and t0 <= tl.start[i] < t1:
                arrivals += 1
                if i + 1 < tl.code.size and tl.code[i + 1] == 0:
                    stays.append(tl.end[i] - tl.start[i])
        m = got[bay.device_id]
        assert m.occupied_s == pytest.approx(occ) and m.observed_s == pytest.approx(seen)
        assert m.arrivals == arrivals and m.completed == len(stays)
        assert m.dwell_median_s == (pytest.approx(float(np.median(stays))) if stays else None)


# -- on simulated bays ---------------------------------------------------------------------


def test_simulated_pay_and_display_bays_give_plausible_dwell_and_overstays() -> None:
    clock = ScalarClock(LONDON)
    t0 = at("2026-01-05 00:00")
    bays, timelines = [], {}
    for i in range(30):
        bay = Bay(f"b{i}", street=f"S{i % 3}", restriction="pay_and_display", max_stay_minutes=120)
        events = BayModel(f"bay-{i}", bay, 7, clock, heartbeat_s=3600).events(t0, t0 + 7 * DAY)
        info = BayInfo(f"bay-{i}", zone="Z", street=bay.street, max_stay_minutes=120, hours=MON_SAT)
        bays.append(info)
        timelines[info.device_id] = bay_timeline(
            [e.ts for e in events], [e.occupied for e in events], until=t0 + 7 * DAY
        )
    fleet_ = Fleet.of(bays, timelines)
    m = window_metrics(fleet_, t0, t0 + 6 * DAY, by="zone", controlled_only=True)["Z"]
    assert m.occupancy is not None and m.turnover is not None
    assert m.dwell_median_s is not None and m.overstay_rate is not None
    print(
        f"\nsimulated week, 30 pay-and-display bays (controlled hours): occupancy {m.occupancy:.0%}, "
        f"turnover {m.turnover:.1f}/bay/day, median stay {m.dwell_median_s / 60:.0f} min, "
        f"overstays {m.overstay_rate:.0%}"
    )
    assert 0.4 < m.occupancy < 0.95
    assert 30 * 60 < m.dwell_median_s < 100 * 60
    # The simulator overstays ~15 % of controlled stays by an exponential 35 minutes, so about
    # exp(-10/35) of those pass the 10-minute grace.
    assert 0.04 < m.overstay_rate < 0.25
    # Flicker is gone: no free gap between sessions is shorter than the debounce window.
    s = sessions(fleet_)
    gaps = s.start[1:] - s.end[:-1]
    assert np.all(gaps[(s.bay[1:] == s.bay[:-1]) & s.arrival_seen[1:]] >= 60.0)


def test_a_month_of_five_thousand_bays_takes_seconds() -> None:
    rng = np.random.default_rng(3)
    t0 = at("2026-01-01 00:00")
    patterns = [MON_SAT, ControlledHours.parse("Mon-Fri 08:30-18:30, Sat 08:30-13:30"), NEVER]
    bays = [
        BayInfo(
            f"b{i}",
            zone=f"Z{i % 12}",
            street=f"S{i % 400}",
            max_stay_minutes=(120, None)[i % 2],
            hours=patterns[i % 3],
        )
        for i in range(5000)
    ]
    # Alternating free/occupied segments, ~10 sessions a bay a day, as a fleet directly.
    per_bay = 600
    lengths = rng.exponential(2400.0, (5000, per_bay)) + 120.0
    ends = t0 + np.cumsum(lengths, axis=1)
    starts = ends - lengths
    codes = np.tile(np.array([0, 1], np.int8), per_bay // 2)
    keep = starts < t0 + 31 * DAY
    fleet_ = Fleet(
        tuple(bays),
        np.repeat(np.arange(5000), per_bay)[keep.ravel()],
        starts[keep],
        np.minimum(ends[keep], t0 + 31 * DAY),
        np.broadcast_to(codes, (5000, per_bay))[keep],
    )
    started = time.perf_counter()
    zones = window_metrics(fleet_, t0, t0 + 30 * DAY, by="zone")
    streets = window_metrics(fleet_, t0, t0 + 30 * DAY, by="street", controlled_only=True)
    peaks = peak_occupancy(fleet_, t0, t0 + 30 * DAY, by="zone")
    took = time.perf_counter() - started
    print(
        f"\na month of 5,000 bays ({fleet_.code.size:,} segments): metrics and peaks in {took:.1f} s"
    )
    assert sum(z.bays for z in zones.values()) == 5000 and len(streets) == 400
    assert all(0.4 < (z.occupancy or 0) < 0.6 for z in zones.values())
    assert all(p is not None and p.occupancy > 0.5 for p in peaks.values())
    assert took < 20.0
