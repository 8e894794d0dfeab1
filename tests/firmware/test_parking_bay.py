"""The parking-bay firmware, one deep-sleep wake at a time: each wake is a fresh import with
only RTC memory and flash carried over, a fake QMC5883L sensing the scripted field, the real
broker, and ingest storing the occupancy events and heartbeats."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devices.contract import telemetry_topic
from tests.firmware.fakes import World
from tests.firmware.harness import (
    Listener,
    last_seq,
    register_device,
    rows,
    wake_cycles,
    write_config,
)
from tests.ingest_harness import config, running, wait_for

TABLE = "parking_bay_readings"
EMPTY = (20.0, -5.0, 40.0)  # the Earth's field at the bay, µT
CAR = (20.0, -5.0, 55.0)  # 15 µT off the baseline: above on_ut
HOVER = (20.0, 1.0, 40.0)  # 6 µT: inside the hysteresis band
NODE = {
    "debounce": 3,
    "heartbeat_every": 10,
    "calibrate": 4,
    "awake_s": 5,
    "retry_max_wakes": 4,
    "battery": {"pin": 35},
}
# Wake by wake: a flicker at 5 (ignored), a car from 7 (reported at the third sample, 9), a
# hover at 13 (no change), gone from 20 (reported at 22).
SCRIPT = [EMPTY] * 4 + [CAR, EMPTY] + [CAR] * 6 + [HOVER] + [CAR] * 6 + [EMPTY] * 14
BATTERY_PCT = 59  # 1.9 V at the ADC, x2 divider: 3.8 V between 3.3 V empty and 4.15 V full


def _script(world: World, outage: range = range(0)) -> None:
    world.adc_uv[35] = 1_900_000

    def before_wake(n: int) -> None:
        world.field_ut = SCRIPT[n - 1]
        world.wifi_up = n not in outage

    world.on_sample = before_wake


def _config(tmp_path: Path, device: str, mqtt_url: str) -> Path:
    return write_config(
        tmp_path, device, mqtt_url, sample_s=0.01, node=NODE, buffer={"capacity": 48}
    )


async def test_changes_and_heartbeats_across_deep_sleep(
    db: str, mqtt_url: str, prefix: str, world: World, tmp_path: Path
) -> None:
    device = f"{prefix}-bay"
    await register_device(db, device, "parking_bay")
    path = _config(tmp_path, device, mqtt_url)
    _script(world)
    async with running(config(db, mqtt_url)):
        await asyncio.to_thread(wake_cycles, "parking_bay", world, path, len(SCRIPT))
        await wait_for(lambda: last_seq(db, TABLE, device) == 5, 20)
    stored = rows(db, TABLE, device, "occupied, battery_pct")
    assert stored == [
        (1, False, BATTERY_PCT),  # startup, after calibrating on the empty bay (wake 1)
        (2, True, BATTERY_PCT),  # the car, at its third sample (wake 9)
        (3, True, BATTERY_PCT),  # heartbeat, 10 wakes later (wake 19)
        (4, False, BATTERY_PCT),  # gone, at the third empty sample (wake 22)
        (5, False, BATTERY_PCT),  # heartbeat (wake 32)
    ]
    assert world.sleeps == [10] * len(SCRIPT)
    # The radio came on only for the five wakes that had something to say.
    assert sum("MQTT: connected" in line for line in world.logs) == 5
    assert not [line for line in world.logs if "wake failed" in line]
    flash = json.loads((tmp_path / "state.json").read_text())
    assert flash["baseline"] == list(EMPTY)
    assert world.ntp_syncs == 1


@pytest.mark.mosquitto_only
async def test_backlog_survives_deep_sleep_through_an_outage(
    db: str, mqtt_url: str, prefix: str, world: World, tmp_path: Path
) -> None:
    device = f"{prefix}-bay"
    await register_device(db, device, "parking_bay")
    path = _config(tmp_path, device, mqtt_url)
    outage = range(6, 30)  # Wi-Fi gone for the car's arrival, a heartbeat and its departure
    _script(world, outage)
    wire = Listener(mqtt_url, telemetry_topic(device))
    try:
        async with running(config(db, mqtt_url)):
            await asyncio.to_thread(wake_cycles, "parking_bay", world, path, len(SCRIPT))
            await wait_for(lambda: last_seq(db, TABLE, device) == 5, 20)
    finally:
        wire.close()
    stored = rows(db, TABLE, device, "occupied")
    assert stored == [(1, False), (2, True), (3, True), (4, False), (5, False)]
    # Readings 2-4 waited in RTC memory through ~20 deep sleeps, then went as one batch.
    batches = [{item["seq"] for item in p} for p in wire.payloads() if isinstance(p, list)]
    assert any({2, 3, 4} <= batch for batch in batches)
    # Backing off: readings were pending for the 21 wakes 9-29, but after the second failure
    # the node waits at least one wake between attempts (at most 12 attempts, usually ~7).
    failed = sum("delivery failed" in line for line in world.logs)
    assert 3 <= failed <= 12
