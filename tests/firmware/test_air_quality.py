"""The air-quality firmware's main loop under CPython: fake PMS5003 and ADC, the real broker,
ingest in-process, and exactly what the database stored — also after a Wi-Fi outage, and the
will when the power goes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devices.contract import status_topic, telemetry_topic
from tests.firmware.fakes import World, pms5003_frame
from tests.firmware.harness import (
    Listener,
    boot,
    last_seq,
    register_device,
    rows,
    statuses,
    write_config,
)
from tests.ingest_harness import config, running, wait_for

TABLE = "air_quality_readings"
ZERO_MV, MV_PER_PPB = 300.0, -0.3
NODE = {"no2": {"zero_mv": ZERO_MV, "mv_per_ppb": MV_PER_PPB, "reads": 4}}


def _script(world: World, outage: range = range(0)) -> None:
    """Sample n sees PM2.5 = 10 + n, PM10 = 30 + 2n behind a little line noise, an NO2 output
    of 270 - n mV, and no Wi-Fi during ``outage``."""

    def on_sample(n: int) -> None:
        world.uart_rx += b"\x00\x42\x13" + pms5003_frame(5, 10 + n, 30 + 2 * n)
        world.adc_uv[34] = (270 - n) * 1000
        world.wifi_up = n not in outage

    world.on_sample = on_sample


def _no2(n: int) -> float:
    """The documented calibration: ppb = (mV - zero) / sensitivity, 1 ppb = 1.91 µg/m³."""
    return int(((270 - n) - ZERO_MV) / MV_PER_PPB * 1.91 * 10 + 0.5) / 10


async def test_readings_stored_exactly(
    db: str, mqtt_url: str, prefix: str, world: World, tmp_path: Path
) -> None:
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    path = write_config(tmp_path, device, mqtt_url, node=NODE)
    _script(world)
    async with running(config(db, mqtt_url)):
        await asyncio.to_thread(boot("air_quality", world).run, str(path), samples=8)
        await wait_for(lambda: last_seq(db, TABLE, device) == 8, 20)
    stored = rows(db, TABLE, device, "pm25, pm10, no2, rssi_dbm, ts")
    # The first sample is taken at boot, before Wi-Fi has joined: no signal strength yet.
    assert [r[:5] for r in stored] == [
        (n, 10 + n, 30 + 2 * n, _no2(n), None if n == 1 else -61) for n in range(1, 9)
    ]
    times = [r[5] for r in stored]
    assert times == sorted(set(times))
    assert world.wdt_timeout_ms == 10_000
    assert world.wdt_longest_gap_ms < 2_000
    assert statuses(db, device) == [True]  # "online"; the clean DISCONNECT kept the will back


@pytest.mark.mosquitto_only
async def test_backlog_after_wifi_outage_arrives_in_batches_exactly_once(
    db: str, mqtt_url: str, prefix: str, world: World, tmp_path: Path
) -> None:
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    path = write_config(tmp_path, device, mqtt_url, node=NODE, buffer={"batch_items": 6})
    outage = range(5, 21)
    _script(world, outage)
    wire = Listener(mqtt_url, telemetry_topic(device))
    try:
        async with running(config(db, mqtt_url)):
            rt = await asyncio.to_thread(boot("air_quality", world).run, str(path), samples=30)
            await wait_for(lambda: last_seq(db, TABLE, device) == 30, 20)
    finally:
        wire.close()
    stored = rows(db, TABLE, device, "pm25, rssi_dbm")
    assert [r[0] for r in stored] == list(range(1, 31))  # every seq, once
    assert [r[1] for r in stored] == [10 + n for n in range(1, 31)]
    # readings taken without Wi-Fi have no signal strength
    assert {r[0] for r in stored if r[2] is None} >= set(range(6, 21))
    batches = [p for p in wire.payloads() if isinstance(p, list)]
    assert len(batches) >= 2
    assert all(1 < len(b) <= 6 for b in batches)
    assert rt.state.buffer.dropped == 0
    assert len(rt.state.buffer) == 0
    assert statuses(db, device) == [True, False, True]  # the will fired when the link died


@pytest.mark.mosquitto_only
async def test_will_reports_offline_when_the_power_goes(
    db: str, mqtt_url: str, prefix: str, world: World, tmp_path: Path
) -> None:
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    path = write_config(tmp_path, device, mqtt_url, node=NODE, mqtt={"keepalive_s": 1})
    _script(world)
    status = Listener(mqtt_url, status_topic(device))
    try:
        async with running(config(db, mqtt_url)) as ingest:
            app = boot("air_quality", world)
            rt = await asyncio.to_thread(app.run, str(path), samples=3, disconnect=False)
            # Power cut: the socket stays open but silent (no FIN, no DISCONNECT); only the
            # broker's keepalive check (1.5 x 1 s) can notice.
            cut = time.monotonic()
            await asyncio.to_thread(status.wait, lambda m: b"offline" in [p for p, _ in m], 10)
            assert time.monotonic() - cut > 1.0
            rt.uplink.client.close()
            await wait_for(lambda: statuses(db, device) == [True, False], 20)
            assert ingest.metrics.messages_acked >= 2
    finally:
        status.close()
    # An empty retained message clears a status (another test session on a shared broker may
    # tidy up its devices' topics): it is not something the device said.
    assert [p for p, _ in status.messages if p] == [b"online", b"offline"]
    assert len(rows(db, TABLE, device, "pm25")) == 3
