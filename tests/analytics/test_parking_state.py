"""Parking bay state: debounce, device-time order, unknown after a missed heartbeat; the
incremental tracker and the live fleet against the pure function; availability and FIWARE words."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.parking import (
    ALL,
    NEVER_SEEN,
    Availability,
    BayInfo,
    BayState,
    BayTracker,
    LiveBays,
    Reading,
    StateConfig,
    Status,
    availability,
    bay_state,
    bay_timeline,
    fiware_status,
)

T = 1_767_600_000.0  # 2026-01-05 08:00 UTC, a Monday
DEFAULT = StateConfig()
TIMEOUT = DEFAULT.timeout_s  # 2 x 3600 + 600
# Small numbers so that hypothesis hits flicker, gaps and ties often.
SMALL = StateConfig(debounce_s=5, heartbeat_s=10, tolerance_s=3, horizon_s=float("inf"))

OCC, FREE, UNK = Status.OCCUPIED, Status.FREE, Status.UNKNOWN


def series(*pairs: tuple[float, bool]) -> list[Reading]:
    return [Reading(T + dt, occupied) for dt, occupied in pairs]


# -- the rules, by example ----------------------------------------------------------------


def test_flicker_inside_a_session_is_ignored() -> None:
    readings = series((0, False), (600, True), (1800, False), (1820, True), (3600, True))
    state = bay_state(readings, T + 4000)
    assert state == BayState(OCC, T + 600, T + 3600)
    timeline = bay_timeline(
        [r.ts for r in readings], [r.occupied for r in readings], until=T + 4000
    )
    assert [
        (s - T, e - T, c)
        for s, e, c in zip(timeline.start, timeline.end, timeline.code, strict=True)
    ] == [
        (0, 600, 0),
        (600, 4000, 1),
    ]


def test_a_change_counts_from_its_start_once_it_has_lasted_the_window() -> None:
    readings = series((0, True), (900, False))
    assert bay_state(readings, T + 930) == BayState(OCC, T, T + 900)  # pending: not shown yet
    assert bay_state(readings, T + 959) == BayState(OCC, T, T + 900)
    assert bay_state(readings, T + 960) == BayState(FREE, T + 900, T + 900)  # back-dated


def test_a_car_pausing_for_seconds_does_not_start_a_session() -> None:
    readings = series((0, False), (300, True), (330, False), (1000, False))
    assert bay_state(readings, T + 1200) == BayState(FREE, T, T + 1000)


def test_changes_back_to_back_shorter_than_the_window_keep_the_last_confirmed_value() -> None:
    readings = series((0, True), (100, False), (130, True), (150, False), (170, True))
    assert bay_state(readings, T + 200).status is OCC
    assert bay_state(readings, T + 200).since == T
    assert bay_state(readings, T + 300) == BayState(OCC, T, T + 170)


def test_unknown_strictly_after_two_heartbeats_and_the_tolerance() -> None:
    readings = series((0, False))
    assert bay_state(readings, T + TIMEOUT).status is FREE
    assert bay_state(readings, T + TIMEOUT + 0.5) == BayState(UNK, T + TIMEOUT, T)
    assert TIMEOUT == 2 * 3600 + 600


def test_nothing_carries_over_a_silence() -> None:
    readings = series((0, True), (10_000, True))
    assert bay_state(readings, T + 10_030) == BayState(UNK, T + TIMEOUT, T + 10_000)
    assert bay_state(readings, T + 10_060) == BayState(OCC, T + 10_000, T + 10_000)


def test_a_bay_never_heard_from_is_unknown_and_a_first_reading_needs_confirming() -> None:
    assert bay_state([], T) == NEVER_SEEN
    assert bay_state(series((0, False)), T + 10) == BayState(UNK, T, T)
    assert bay_state(series((0, False)), T + 60) == BayState(FREE, T, T)


def test_device_time_orders_readings_not_arrival_and_ties_are_settled_one_way() -> None:
    readings = series((0, False), (600, True), (1800, False))
    assert bay_state(readings[::-1], T + 2000) == bay_state(readings, T + 2000)
    tie = series((0, True), (500, True), (500, False))
    assert bay_state(tie, T + 600) == bay_state(tie[::-1], T + 600)


def test_a_reading_from_a_clock_running_ahead_moves_now_up() -> None:
    readings = series((0, False), (900, True))
    assert bay_state(readings, T + 100) == bay_state(readings, T + 900)


@pytest.mark.parametrize(
    "kwargs",
    [{"debounce_s": -1.0}, {"heartbeat_s": 0.0}, {"debounce_s": 9000.0}, {"horizon_s": -5.0}],
)
def test_nonsense_configuration_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        StateConfig(**kwargs)


# -- the incremental tracker and the series function agree ----------------------------------

readings_st = st.lists(
    st.builds(Reading, st.integers(0, 150).map(float), st.booleans()), min_size=0, max_size=25
)


def _status_at(
    readings: Sequence[Reading], until: float, t: float, c: StateConfig
) -> Status | None:
    """The timeline's definition, spelled out naively: the value of the latest run that lasted
    the debounce window and started by ``t``, within the stretch of contact containing ``t``."""
    keys = sorted({(r.ts, r.occupied) for r in readings if r.ts <= until})
    if not keys or t < keys[0][0] or t >= until:
        return None
    epochs: list[list[tuple[float, bool]]] = [[keys[0]]]
    for key in keys[1:]:
        if key[0] - epochs[-1][-1][0] > c.timeout_s:
            epochs.append([])
        epochs[-1].append(key)
    epoch = [e for e in epochs if e[0][0] <= t][-1]
    end = min(epoch[-1][0] + c.timeout_s, until)
    if t >= end:
        return UNK
    runs: list[tuple[float, bool]] = []
    for ts, value in epoch:
        if not runs or runs[-1][1] != value:
            runs.append((ts, value))
    found: Status | None = UNK
    for i, (start, value) in enumerate(runs):
        stop = runs[i + 1][0] if i + 1 < len(runs) else end
        if start <= t and stop - start >= c.debounce_s and stop > start:
            found = OCC if value else FREE
    return found


@settings(max_examples=300, deadline=None)
@given(readings_st, st.integers(0, 60), st.randoms(use_true_random=False))
def test_any_arrival_order_and_batching_gives_the_state_of_the_sorted_series(
    readings: list[Reading], wait: int, rng: random.Random
) -> None:
    arrivals = readings[:]
    rng.shuffle(arrivals)
    tracker = BayTracker(config=SMALL)
    received: list[Reading] = []
    now = 0.0
    while arrivals:
        batch = [arrivals.pop() for _ in range(rng.randint(1, 4)) if arrivals]
        assert tracker.extend(batch) == 0
        received += batch
        now = max([now, *(r.ts for r in batch)]) + rng.randint(0, 30)
        assert tracker.state(now) == bay_state(received, now, config=SMALL)
    until = max((r.ts for r in readings), default=0.0) + wait
    assert tracker.state(until) == bay_state(readings, until, config=SMALL)


@settings(max_examples=300, deadline=None)
@given(readings_st, st.integers(0, 60))
def test_the_vectorised_timeline_ends_in_the_state_the_machine_gives(
    readings: list[Reading], wait: int
) -> None:
    until = max((r.ts for r in readings), default=0.0) + wait
    timeline = bay_timeline(
        [r.ts for r in readings], [r.occupied for r in readings], until=until, config=SMALL
    )
    assert timeline.final == bay_state(readings, until, config=SMALL)
    if timeline.code.size:
        assert timeline.start[0] == min(r.ts for r in readings)
        assert timeline.end[-1] == until
        assert np.all(timeline.start[1:] == timeline.end[:-1])  # contiguous
        assert np.all(timeline.end > timeline.start)
        assert np.all(timeline.code[1:] != timeline.code[:-1])  # neighbours differ
    for t in np.arange(-1.0, until + 2.0, 0.5):
        assert timeline.status_at(t) == _status_at(readings, until, t, SMALL), t


@settings(max_examples=200, deadline=None)
@given(readings_st, st.integers(0, 40), st.randoms(use_true_random=False))
def test_readings_later_than_the_horizon_are_refused_and_the_rest_still_agree(
    readings: list[Reading], horizon: int, rng: random.Random
) -> None:
    config = StateConfig(debounce_s=5, heartbeat_s=10, tolerance_s=3, horizon_s=horizon)
    arrivals = readings[:]
    rng.shuffle(arrivals)
    tracker = BayTracker(config=config)
    accepted: list[Reading] = []
    for reading in arrivals:
        newest = tracker.newest
        if tracker.extend([reading]):
            # Only a reading beyond the horizon of the newest one is ever refused.
            assert newest is not None and reading.ts < newest - horizon
        else:
            accepted.append(reading)
    until = max((r.ts for r in readings), default=0.0) + 7
    assert tracker.state(until) == bay_state(accepted, until, config=config)


def test_next_change_is_when_a_pending_change_confirms_or_the_heartbeat_is_missed() -> None:
    tracker = BayTracker()
    tracker.extend(series((0, False), (600, True)))
    assert tracker.state(T + 630).status is FREE
    assert tracker.next_change(T + 630) == T + 660
    assert tracker.state(T + 660) == BayState(OCC, T + 600, T + 600)
    wake = tracker.next_change(T + 660)
    assert wake is not None and T + 600 + TIMEOUT < wake < T + 600 + TIMEOUT + 1e-3
    assert tracker.state(wake).status is UNK
    assert tracker.next_change(wake) is None


# -- the live fleet -------------------------------------------------------------------------

BAYS = (
    BayInfo("bay-1", zone="CA-N", street="Camden Road"),
    BayInfo("bay-2", zone="CA-N", street="Camden Road"),
    BayInfo("bay-3", zone="CA-N", street="Agar Grove"),
    BayInfo("bay-4", zone="CA-S", street="Agar Grove"),
)


def _reference(
    received: dict[str, list[Reading]], now: float, config: StateConfig
) -> dict[str, BayState]:
    return {b.device_id: bay_state(received[b.device_id], now, config=config) for b in BAYS}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 150), st.booleans()), max_size=40),
    st.randoms(use_true_random=False),
)
def test_live_states_and_counts_equal_the_pure_functions_after_every_call(
    raw: list[tuple[int, int, bool]], rng: random.Random
) -> None:
    live = LiveBays(BAYS, now=0.0, config=SMALL)
    received: dict[str, list[Reading]] = {b.device_id: [] for b in BAYS}
    rng.shuffle(raw)
    now = 0.0
    while raw:
        batch = [raw.pop() for _ in range(rng.randint(1, 3)) if raw]
        now = max([now, *(float(ts) for _, ts, _ in batch)]) + rng.choice([0, 0, 2, 5, 30])
        for i in {i for i, _, _ in batch}:
            readings = [Reading(float(ts), occ) for j, ts, occ in batch if j == i]
            before = live.state(BAYS[i].device_id)
            update = live.observe(BAYS[i].device_id, readings, now=now)
            received[BAYS[i].device_id] += readings
            after = live.state(BAYS[i].device_id)
            changed = (before.status, before.since) != (after.status, after.since)
            assert [c.device_id for c in update.changes] == ([BAYS[i].device_id] if changed else [])
        live.advance(now)
        expected = _reference(received, now, SMALL)
        assert live.states() == expected
        for by in ("zone", "street", "all"):
            assert live.availability(by) == availability(BAYS, expected, by=by)
    later = now + 1000
    update = live.advance(later)
    expected = _reference(received, later, SMALL)
    assert live.states() == expected
    assert {c.device_id for c in update.changes} <= {b.device_id for b in BAYS}
    assert live.availability("all") == {ALL: Availability(unknown=len(BAYS))}


def test_advance_confirms_a_change_and_expires_a_silent_bay_without_new_readings() -> None:
    live = LiveBays(BAYS[:2], now=T)
    live.observe("bay-1", series((0, False)), now=T)
    live.observe("bay-2", series((0, False)), now=T)
    assert live.advance(T + 60).changes  # both confirmed free
    assert live.availability("zone") == {"CA-N": Availability(free=2)}
    live.observe("bay-1", series((100, True)), now=T + 100)
    assert live.availability("zone") == {"CA-N": Availability(free=2)}  # pending
    (change,) = live.advance(T + 160).changes
    assert change.device_id == "bay-1" and change.after == BayState(OCC, T + 100, T + 100)
    assert live.availability("street") == {"Camden Road": Availability(free=1, occupied=1)}
    live.observe("bay-2", series((3600, False)), now=T + 3600)  # a heartbeat: no change
    assert not live.advance(T + 3600).changes
    changes = live.advance(T + 100 + TIMEOUT + 1).changes
    assert [c.after.status for c in changes] == [UNK]
    assert live.availability("zone") == {"CA-N": Availability(free=1, unknown=1)}


def test_unregistered_devices_closed_bays_and_a_rebuild_after_a_refused_reading() -> None:
    live = LiveBays(BAYS[:2], now=T, config=StateConfig(horizon_s=3600))
    assert live.observe("bay-x", series((0, True)), now=T).unregistered
    live.observe("bay-1", series((0, False), (7200, False)), now=T + 7200)
    live.set_closed("bay-1", True)
    assert live.availability("street") == {"Camden Road": Availability(unknown=1, closed=1)}
    live.set_closed("bay-1", False)
    # Older than the last hour but after the oldest reading kept: still placed exactly.
    placed = series((1000, True))
    assert live.observe("bay-1", placed, now=T + 7300).too_late == 0
    assert live.state("bay-1") == bay_state(
        series((0, False), (1000, True), (7200, False)), T + 7300
    )
    # Before a reading already folded away: refused; the service rebuilds the bay.
    stored = series((0, True), (7200, True))
    live.observe("bay-2", stored, now=T + 7300)
    assert live.state("bay-2") == BayState(OCC, T, T + 7200)
    late = series((-500, True))
    assert live.observe("bay-2", late, now=T + 7300).too_late == 1
    assert live.state("bay-2") == BayState(OCC, T, T + 7200)
    (change,) = live.rebuild("bay-2", [*stored, *late], now=T + 7300).changes
    assert change.after == BayState(OCC, T - 500, T + 7200)


def test_five_thousand_bays_take_a_reading_in_well_under_a_millisecond() -> None:
    bays = [BayInfo(f"bay-{i}", zone=f"Z{i % 20}", street=f"S{i % 300}") for i in range(5000)]
    live = LiveBays(bays, now=T)
    rng = np.random.default_rng(1)
    devices = rng.integers(0, 5000, 20_000)
    times = T + np.sort(rng.uniform(0, 86_400, 20_000))
    values = rng.random(20_000) < 0.5
    started = time.perf_counter()
    for device, ts, value in zip(devices, times, values, strict=True):
        live.observe(f"bay-{device}", [Reading(float(ts), bool(value))], now=float(ts))
        live.advance(float(ts))
    per_reading = (time.perf_counter() - started) / devices.size
    counts = live.availability("all")[ALL]
    assert counts.total == 5000
    assert live.availability("zone") == availability(bays, live.states(), by="zone")
    print(f"\nlive: {per_reading * 1e6:.1f} us per reading with its advance, 5,000 bays")
    assert per_reading < 1e-3


# -- availability and FIWARE ----------------------------------------------------------------


def test_availability_counts_per_group_and_closed_bays_win_over_the_sensor() -> None:
    states = {
        "bay-1": BayState(OCC, T, T),
        "bay-2": BayState(FREE, T, T),
        "bay-3": BayState(FREE, T, T),
    }
    zones = availability(BAYS, states, by="zone", closed={"bay-3"})
    assert zones == {
        "CA-N": Availability(free=1, occupied=1, closed=1),
        "CA-S": Availability(unknown=1),
    }
    assert zones["CA-N"].total == 3
    assert zones["CA-N"].fiware() == {"totalSpotNumber": 3, "availableSpotNumber": 1}
    streets = availability(BAYS, states, by="street")
    assert streets["Agar Grove"] == Availability(free=1, unknown=1)


def test_fiware_parking_spot_status_words() -> None:
    assert [fiware_status(s) for s in Status] == ["free", "occupied", "unknown"]
    assert fiware_status(Status.FREE, closed=True) == "closed"


def test_bay_info_from_registry_attributes() -> None:
    bay = BayInfo.from_attributes(
        "dev-9",
        {
            "bay_id": "CA-0042",
            "street": "Camden Road",
            "parking_zone": "CA-N",
            "max_stay_minutes": 120,
            "controlled_hours": "Mon-Sat 08:30-18:30",
        },
    )
    assert (bay.zone, bay.street, bay.max_stay_minutes, bay.bay_id) == (
        "CA-N",
        "Camden Road",
        120,
        "CA-0042",
    )
    assert bay.hours.active(0, 9.0) and not bay.hours.active(6, 9.0)
    assert BayInfo.from_attributes("dev-8", {"max_stay_minutes": 30}).hours.active(6, 3.0)
    assert not BayInfo.from_attributes("dev-7", {"controlled_hours": "none"}).hours.ranges
    with pytest.raises(ValueError, match="cannot read"):
        BayInfo.from_attributes("dev-6", {"controlled_hours": "daytime"})
