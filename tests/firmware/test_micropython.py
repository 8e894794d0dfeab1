"""The three firmwares on the real MicroPython VM (the unix port), not CPython.

Each runs from its own files as on the device, with stub ``machine``, ``network``, ``ntptime``
and ``time`` modules (``mpy_stubs/``) standing in for the ESP32: the scripted sensors, a Wi-Fi
network the test takes away, and the ESP32's clock, which counts from 2000, reads 2000-01-01
after a power-on until NTP sets it, and has 30-bit ticks. Sockets, the broker, ingest and the
database are real, and the tests check the exact rows stored: every seq once, also for the
backlog after a Wi-Fi outage, and on a heap of the ESP32's order. The parking node runs wake by
wake, each wake a new VM process that keeps only RTC memory and flash. Skipped, with the
reason, where the MicroPython binary is missing (``vm.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devices.contract import telemetry_topic
from tests.firmware.fakes import pms5003_frame
from tests.firmware.harness import Listener, last_seq, register_device, rows, statuses, write_config
from tests.firmware.vm import Change, Esp32, Run, Script
from tests.ingest_harness import config, running, wait_for

AQ_NODE = {"no2": {"zero_mv": 300.0, "mv_per_ppb": -0.3, "reads": 4}}
METER_NODE = {"pin": 27, "imp_per_kwh": 1000, "base_kwh": "12873.412", "min_gap_ms": 20}
BASE_WH = 12_873_412


def _air(samples: int, outage: range = range(0)) -> Script:
    """Sample n sees PM2.5 = 10 + n and PM10 = 30 + 2n behind line noise, an NO2 output of
    270 - n mV, and no Wi-Fi during ``outage``."""
    return Script(
        changes={
            n: Change(
                uart=b"\x00\x42\x13" + pms5003_frame(5, 10 + n, 30 + 2 * n),
                adc_uv={34: (270 - n) * 1000},
                wifi_up=n not in outage,
            )
            for n in range(1, samples + 1)
        }
    )


def _no2(n: int) -> float:
    """The documented calibration: ppb = (mV - zero) / sensitivity, 1 ppb = 1.91 µg/m³."""
    return int(((270 - n) - 300.0) / -0.3 * 1.91 * 10 + 0.5) / 10


def _on_micropython(run: Run) -> None:
    assert run.world.implementation == "micropython"
    assert run.world.wdt_timeout_ms == 10_000
    assert run.world.wdt_longest_gap_ms < 2_000, run.console


async def test_air_quality_on_the_esp32_clock(
    micropython: Path, db: str, mqtt_url: str, prefix: str, tmp_path: Path
) -> None:
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    esp = Esp32(micropython, "air_quality", tmp_path)
    write_config(esp.flash, device, mqtt_url, node=AQ_NODE)
    async with running(config(db, mqtt_url)):
        start = datetime.now(UTC)
        run = await esp.run(_air(6), samples=6)
        end = datetime.now(UTC)
        await wait_for(lambda: last_seq(db, "air_quality_readings", device) == 6, 20)
    _on_micropython(run)
    # After a power-on the RTC says 2000-01-01: no reading until NTP has set it, and then the
    # device's epoch (2000) must come out as Unix time.
    assert "clock not set yet (no NTP): readings wait for it" in run.logs
    assert run.world.ntp_syncs == 1
    stored = rows(db, "air_quality_readings", device, "pm25, pm10, no2, rssi_dbm, ts")
    assert [r[:5] for r in stored] == [(n, 10 + n, 30 + 2 * n, _no2(n), -61) for n in range(1, 7)]
    times = [r[5] for r in stored]
    assert times == sorted(set(times))
    assert start <= times[0] and times[-1] <= end
    assert run.node is not None
    assert (run.node.delivered, run.node.dropped, run.node.queued) == (6, 0, 0)
    assert statuses(db, device) == [True]


@pytest.mark.mosquitto_only
async def test_air_quality_backlog_after_a_wifi_outage(
    micropython: Path, db: str, mqtt_url: str, prefix: str, tmp_path: Path
) -> None:
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    esp = Esp32(micropython, "air_quality", tmp_path)
    write_config(esp.flash, device, mqtt_url, node=AQ_NODE, buffer={"batch_items": 3})
    wire = Listener(mqtt_url, telemetry_topic(device))
    try:
        async with running(config(db, mqtt_url)):
            run = await esp.run(_air(12, outage=range(4, 9)), samples=12)
            await wait_for(lambda: last_seq(db, "air_quality_readings", device) == 12, 20)
    finally:
        wire.close()
    _on_micropython(run)
    stored = rows(db, "air_quality_readings", device, "pm25, pm10, no2, rssi_dbm")
    assert [r[:4] for r in stored] == [(n, 10 + n, 30 + 2 * n, _no2(n)) for n in range(1, 13)]
    # The signal strength is read as a sample starts, before the world changes for it.
    no_signal = {r[0] for r in stored if r[4] is None}
    assert set(range(5, 10)) <= no_signal <= set(range(5, 13))
    batches = [p for p in wire.payloads() if isinstance(p, list)]
    assert batches
    assert all(1 < len(batch) <= 3 for batch in batches)
    sent = sorted(
        {item["seq"] for p in wire.payloads() for item in (p if isinstance(p, list) else [p])}
    )
    assert sent == list(range(1, 13))
    assert run.node is not None
    assert (run.node.delivered, run.node.dropped, run.node.queued) == (12, 0, 0)
    assert statuses(db, device) == [True, False, True]  # the will fired when the link died


@pytest.mark.mosquitto_only
async def test_a_backlog_at_the_platform_limits_fits_a_small_heap(
    micropython: Path, db: str, mqtt_url: str, prefix: str, tmp_path: Path
) -> None:
    """300 readings queued through an outage, then batches of up to 1000 readings and 64 KiB
    allowed: on a 192 KiB heap (the firmware's code and the stubs take about 56 KiB of it, the
    queue about 31 KiB) no block is free for a batch that size, and the node must send smaller
    ones rather than stop with a MemoryError."""
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    esp = Esp32(micropython, "air_quality", tmp_path, heap="192K")
    limits = {"capacity": 1000, "batch_items": 1000, "batch_bytes": 65536}
    write_config(esp.flash, device, mqtt_url, node=AQ_NODE, sample_s=0.002, buffer=limits)
    script = Script(
        changes={1: Change(wifi_up=False), 301: Change(wifi_up=True)}, adc_uv={34: 255_000}
    )
    async with running(config(db, mqtt_url)):
        run = await esp.run(script, samples=320)
        await wait_for(lambda: last_seq(db, "air_quality_readings", device) == 320, 20)
    _on_micropython(run)
    assert any(line.startswith("low memory: batches of") for line in run.logs), run.console
    # All of them, although samples 2 ms apart often share a millisecond when the loop catches
    # up: the device keeps timestamps distinct, or the platform would take one for a repeat.
    stored = rows(db, "air_quality_readings", device, "no2")
    assert stored == [(n, 286.5) for n in range(1, 321)]  # 255 mV: 150 ppb, 286.5 µg/m³
    assert run.node is not None
    assert (run.node.delivered, run.node.dropped, run.node.queued) == (320, 0, 0)


@pytest.mark.mosquitto_only
async def test_smart_meter_pulses_through_a_wifi_outage(
    micropython: Path, db: str, mqtt_url: str, prefix: str, tmp_path: Path
) -> None:
    device = f"{prefix}-meter"
    await register_device(db, device, "smart_meter")
    esp = Esp32(micropython, "smart_meter", tmp_path)
    write_config(esp.flash, device, mqtt_url, node=METER_NODE)
    # Two flashes 60 ms apart before each sample: 1 Wh per 60 ms is 60 kW.
    outage = range(3, 7)
    script = Script(
        changes={n: Change(pulses=2, wifi_up=n not in outage) for n in range(1, 9)},
        pulse_gap_ms=60,
    )
    async with running(config(db, mqtt_url)):
        run = await esp.run(script, samples=8)
        await wait_for(lambda: last_seq(db, "smart_meter_readings", device) == 8, 20)
    _on_micropython(run)
    stored = rows(db, "smart_meter_readings", device, "electricity_import_kwh, power_w")
    assert [(seq, kwh) for seq, kwh, _ in stored] == [
        (n, (BASE_WH + 2 * n) / 1000) for n in range(1, 9)
    ]
    # 60 ms between the flashes is 60 kW, never more; less where a busy machine made the VM late
    # (the formula's exact values are checked in test_sensors.py)
    powers = [power for _, _, power in stored]
    assert all(0 < power <= 60_000 for power in powers), powers
    assert max(powers) > 50_000, powers  # at least one pair of flashes on time
    assert run.node is not None
    assert (run.node.delivered, run.node.dropped, run.node.queued) == (8, 0, 0)


# Parking: the Earth's field at the bay, and a car 15 µT off it (above on_ut).
EMPTY = (20.0, -5.0, 40.0)
CAR = (20.0, -5.0, 55.0)
BAY_NODE = {
    "debounce": 2,
    "heartbeat_every": 4,
    "calibrate": 4,
    "awake_s": 5,
    "retry_max_wakes": 2,
    "battery": {"pin": 35},
}


@pytest.mark.mosquitto_only
async def test_parking_bay_wakes_hold_a_backlog_through_an_outage(
    micropython: Path, db: str, mqtt_url: str, prefix: str, tmp_path: Path
) -> None:
    device = f"{prefix}-bay"
    await register_device(db, device, "parking_bay")
    esp = Esp32(micropython, "parking_bay", tmp_path)
    write_config(esp.flash, device, mqtt_url, sample_s=0.01, node=BAY_NODE)
    # Wake 1 calibrates and sets the clock, 2 reports the empty bay; a car from 3 (reported at
    # 4) stays until a heartbeat (8) and leaves at 9 (reported at 10), all without Wi-Fi (3-10);
    # the backlog goes by wake 12, within retry_max_wakes of the network's return.
    fields = [EMPTY] * 2 + [CAR] * 6 + [EMPTY] * 5
    outage = range(3, 11)
    wire = Listener(mqtt_url, telemetry_topic(device))
    runs: list[Run] = []
    try:
        async with running(config(db, mqtt_url)):
            for number, field_ut in enumerate(fields, start=1):
                script = Script(
                    field_ut=field_ut, wifi_up=number not in outage, adc_uv={35: 1_900_000}
                )
                runs.append(await esp.wake(script))
            await wait_for(lambda: last_seq(db, "parking_bay_readings", device) == 4, 20)
    finally:
        wire.close()
    assert rows(db, "parking_bay_readings", device, "occupied, battery_pct") == [
        (1, False, 59),  # 1.9 V at the ADC, x2 divider: 3.8 V of 3.3-4.15 V
        (2, True, 59),
        (3, True, 59),
        (4, False, 59),
    ]
    batches = [{item["seq"] for item in p} for p in wire.payloads() if isinstance(p, list)]
    assert {2, 3, 4} in batches
    for run in runs:
        _on_micropython(run)
        assert run.world.sleep_ms == 10
    logs = [line for run in runs for line in run.logs]
    assert not [line for line in logs if "wake failed" in line]
    assert sum("calibrated" in line for line in logs) == 1
    assert 3 <= sum("delivery failed" in line for line in logs) <= 7
    # The RTC kept the time through deep sleep: one NTP sync, at the first wake.
    assert [run.world.ntp_syncs for run in runs] == [1] + [0] * (len(runs) - 1)
    flash = json.loads((esp.flash / "state.json").read_text())
    assert flash["baseline"] == list(EMPTY)
