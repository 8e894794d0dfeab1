"""Pure sensor logic: PMS5003 frames, NO2 calibration, the QMC5883L driver, occupancy, pulses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.firmware.fakes import World, _machine, pms5003_frame
from tests.firmware.harness import node_module

pms = node_module("air_quality", "pms5003")
no2 = node_module("air_quality", "no2")
qmc = node_module("parking_bay", "qmc5883l")
occupancy = node_module("parking_bay", "occupancy")
pulses = node_module("smart_meter", "pulses")


# -- PMS5003 -----------------------------------------------------------------------------------


def test_pms5003_good_frame() -> None:
    frames = pms.Pms5003Parser().feed(pms5003_frame(4, 12, 20))
    assert len(frames) == 1
    frame = frames[0]
    assert (frame.pm1, frame.pm25, frame.pm10) == (4, 12, 20)
    assert (frame.pm1_cf1, frame.pm25_cf1, frame.pm10_cf1) == (5, 13, 21)
    assert frame.counts == (1200, 400, 90, 12, 3, 1)


def test_pms5003_datasheet_bytes() -> None:
    # A frame written out by hand from the Plantower datasheet's layout.
    raw = bytes.fromhex(
        "424d001c" + "0005000c0014" + "0004000b0013" + "04b0019000570009000300010000"
    )
    raw += (sum(raw) & 0xFFFF).to_bytes(2, "big")
    (frame,) = pms.Pms5003Parser().feed(raw)
    assert (frame.pm1, frame.pm25, frame.pm10) == (4, 11, 19)


def test_pms5003_bad_checksum_is_rejected() -> None:
    frame = bytearray(pms5003_frame(4, 12, 20))
    frame[10] ^= 0x01
    parser = pms.Pms5003Parser()
    assert parser.feed(bytes(frame)) == []
    assert parser.rejected == 1
    # and the next good frame still comes through
    assert [f.pm25 for f in parser.feed(pms5003_frame(1, 7, 9))] == [7]


def test_pms5003_resyncs_after_garbage_and_torn_frames() -> None:
    parser = pms.Pms5003Parser()
    good = pms5003_frame(1, 2, 3)
    torn = pms5003_frame(9, 9, 9)[:17]
    stream = b"\x00\xff\x42" + torn + b"BM\x00\x99" + good + b"\x42"
    assert [f.pm10 for f in parser.feed(stream)] == [3]
    # A header split across reads ("\x42" | "\x4d...") is still found.
    second = pms5003_frame(5, 6, 7)
    assert [f.pm10 for f in parser.feed(second[1:])] == [7]


@given(
    st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 1999)), max_size=6),
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"B", b"")), max_size=7),
    st.lists(st.integers(1, 50), max_size=20),
)
def test_pms5003_finds_every_frame_in_noise_however_it_is_split(
    values: list[tuple[int, int, int]], noise: list[bytes], cuts: list[int]
) -> None:
    stream = b""
    for i, (a, b, c) in enumerate(values):
        stream += (noise[i] if i < len(noise) else b"") + pms5003_frame(a, b, c)
    parser = pms.Pms5003Parser()
    found = []
    position = 0
    for cut in [*cuts, len(stream)]:
        found += parser.feed(stream[position : position + cut])
        position += cut
    found += parser.feed(stream[position:])
    assert [(f.pm1, f.pm25, f.pm10) for f in found] == values


# -- NO2 ---------------------------------------------------------------------------------------


def test_no2_calibration_and_conversion() -> None:
    # 255 mV against a 300 mV zero at -0.3 mV/ppb is 150 ppb, i.e. 286.5 µg/m³ at 1.91.
    assert no2.no2_tenths(255.0, 300.0, -0.3) == 2865
    assert no2.no2_tenths(300.0, 300.0, -0.3) == 0
    assert no2.no2_tenths(310.0, 300.0, -0.3) == 0  # below zero is noise: clamped
    assert no2.no2_tenths(-1000.0, 300.0, -0.3) == 20000  # the contract's ceiling


# -- QMC5883L ----------------------------------------------------------------------------------


def test_qmc5883l_reads_microtesla_and_returns_to_standby() -> None:
    world = World()
    machine = _machine(world)
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
    sensor = qmc.QMC5883L(i2c)
    world.field_ut = (12.5, -30.0, 41.25)
    assert sensor.read_ut() == pytest.approx((12.5, -30.0, 41.25), abs=1 / 120)
    assert i2c.registers[0x09] == 0x00  # standby between samples
    assert i2c.registers[0x0B] == 0x01


def test_qmc5883l_wrong_address_fails_like_the_bus() -> None:
    machine = _machine(World())
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400000)
    with pytest.raises(OSError, match="ENODEV"):
        qmc.QMC5883L(i2c, address=0x1E)


# -- occupancy ---------------------------------------------------------------------------------


def _detector(**kw: float) -> Any:
    return occupancy.OccupancyDetector([0, 0, 0], on_ut=8, off_ut=4, debounce=3, **kw)


def test_occupancy_needs_debounce_consecutive_samples() -> None:
    d = _detector()
    car, empty = (0, 0, 10), (0, 0, 1)
    assert [d.update(s) for s in (car, car, empty, car, car)] == [False] * 5
    assert not d.occupied
    assert d.update(car) is True  # third in a row
    assert d.occupied
    assert [d.update(s) for s in (car, car)] == [False, False]


def test_occupancy_hysteresis_band_keeps_the_state() -> None:
    d = _detector()
    between = (0, 6, 0)  # 6 µT: above off (4), below on (8)
    assert not any(d.update(between) for _ in range(10))
    assert not d.occupied
    for _ in range(3):
        d.update((0, 0, 9))
    assert d.occupied
    assert not any(d.update(between) for _ in range(10))
    assert d.occupied
    assert [d.update((0, 0, 3)) for _ in range(3)] == [False, False, True]
    assert not d.occupied


def test_occupancy_baseline_follows_drift_only_while_empty() -> None:
    d = _detector(drift=0.5)
    d.update((0, 0, 2))
    assert d.baseline == [0, 0, 1.0]
    for _ in range(3):
        d.update((0, 0, 30))
    assert d.occupied
    d.update((0, 0, 30))
    assert d.baseline == [0, 0, 1.0]  # a parked car is not drift


def test_occupancy_state_round_trip() -> None:
    d = _detector()
    d.update((0, 0, 9))
    occupied, streak, *baseline = d.state()
    again = occupancy.OccupancyDetector(baseline, 8, 4, 3, 0.0, occupied, streak)
    assert [again.update((0, 0, 9)) for _ in range(2)] == [False, True]
    assert occupancy.mean([(0, 0, 3), (2, 4, 3)]) == [1, 2, 3]
    with pytest.raises(ValueError, match="off_ut < on_ut"):
        occupancy.OccupancyDetector([0, 0, 0], on_ut=4, off_ut=4, debounce=3)


# -- pulses ------------------------------------------------------------------------------------


def test_pulse_counter_ignores_double_edges() -> None:
    counter = pulses.PulseCounter(min_gap_ms=20)
    for t in (1000, 1005, 2000, 2019, 3500):
        counter.edge(t)
    assert counter.count == 3
    assert counter.interval_ms == 1500
    assert counter.last_ms == 3500


def test_power_from_pulse_interval() -> None:
    # 1000 imp/kWh: a pulse every 3.6 s is 1 kW; every second is 3.6 kW.
    assert pulses.power_w(3600, 0, 1000) == 1000
    assert pulses.power_w(1000, 10, 1000) == 3600
    assert pulses.power_w(1000, 10, 800) == 4500
    # no pulse for a minute: at most one pulse per minute, 60 W, not the last 3.6 kW
    assert pulses.power_w(1000, 60_000, 1000) == 60
    assert pulses.power_w(None, 0, 1000) is None


def test_register_and_base_reading() -> None:
    base = pulses.parse_kwh("12873.412")
    assert base == 12_873_412
    assert pulses.register_wh(base, 1500, 1000) == 12_874_912
    assert pulses.register_wh(base, 3, 800) == 12_873_415  # 3.75 Wh: whole Wh only
    assert pulses.parse_kwh("7") == 7000
    assert pulses.parse_kwh("7.5") == 7500
    assert pulses.parse_kwh(12) == 12000
    for bad in ("-1", "1.2.3", "abc", ""):
        with pytest.raises(ValueError, match="base_kwh must look like"):
            pulses.parse_kwh(bad)
