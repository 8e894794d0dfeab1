"""The shared firmware library without a network: buffer, payloads (checked by the platform's own
codec), persistence across reboots and power loss, backoff, configuration."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devices.codec import decode_message
from devices.contract import Limits, status_topic, telemetry_topic
from devices.model import Reading
from devices.types import DEVICE_TYPES
from tests.firmware.fakes import World
from tests.firmware.harness import FIRMWARE, boot, library

cpfw = library("backoff", "clock", "config", "payload", "persist", "ringbuf", "state", "uplink")

NOW_MS = 1_795_000_000_123
NOW_TEXT = datetime.fromtimestamp(NOW_MS // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.123Z")


# -- ring buffer -------------------------------------------------------------------------------


def test_ring_buffer_is_bounded_and_counts_drops() -> None:
    buf = cpfw.ringbuf.RingBuffer(3)
    assert [buf.push([seq, 0]) for seq in range(1, 6)] == [False, False, False, True, True]
    assert len(buf) == 3
    assert buf.dropped == 2
    assert [item[0] for item in buf.items()] == [3, 4, 5]


def test_ring_buffer_acks_by_seq_even_if_the_batch_was_partly_dropped() -> None:
    buf = cpfw.ringbuf.RingBuffer(3)
    for seq in (1, 2, 3):
        buf.push([seq, 0])
    # a batch of 1..3 is in flight; meanwhile 4 and 5 arrive and push out 1 and 2
    buf.push([4, 0])
    buf.push([5, 0])
    assert buf.ack_through(3) == 1
    assert [item[0] for item in buf.items()] == [4, 5]
    assert buf.ack_through(3) == 0
    with pytest.raises(IndexError):
        buf.peek(2)


# -- payloads, as the platform decodes them ----------------------------------------------------


def _decode(device_type: str, payload: bytes) -> list[Reading]:
    types = DEVICE_TYPES
    decoded = decode_message(
        telemetry_topic("fw-1"),
        payload,
        datetime.fromtimestamp(NOW_MS / 1000 + 5, UTC),
        lambda _id: types[device_type],
        Limits(),
    )
    assert decoded.rejections == ()
    return list(decoded.readings)


def test_rfc3339_in_utc_with_milliseconds() -> None:
    assert cpfw.clock.rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert cpfw.clock.rfc3339(NOW_MS) == NOW_TEXT == "2026-11-18T11:06:40.123Z"
    assert cpfw.clock.valid(cpfw.clock.unix_ms())
    assert not cpfw.clock.valid(946_684_800_000)  # an unset ESP32 RTC says 2000-01-01


def test_exact_decimals_survive_the_codec() -> None:
    fields = (("electricity_import_kwh", 3), ("power_w", 0), ("rssi_dbm", 0))
    item = [4410, NOW_MS, 12_873_412, 431, None]
    text = cpfw.payload.item_json(fields, item)
    assert json.loads(text) == {
        "ts": NOW_TEXT,
        "seq": 4410,
        "electricity_import_kwh": 12873.412,
        "power_w": 431,
    }
    (reading,) = _decode("smart_meter", text.encode())
    assert reading.seq == 4410
    assert reading.values == {"electricity_import_kwh": 12873.412, "power_w": 431.0}
    assert reading.ts == datetime(2026, 11, 18, 11, 6, 40, 123000, UTC)
    assert cpfw.payload.decimal(-5, 1) == "-0.5"
    assert cpfw.payload.decimal(7, 3) == "0.007"


@pytest.mark.parametrize(
    ("device_type", "fields", "values"),
    [
        (
            "air_quality",
            (("pm25", 0), ("pm10", 0), ("no2", 1), ("rssi_dbm", 0)),
            [12, 20, 413, -61],
        ),
        ("parking_bay", (("occupied", None), ("battery_pct", 0)), [True, 88]),
        ("smart_meter", (("electricity_import_kwh", 3), ("power_w", 0)), [5, None]),
    ],
)
def test_batches_respect_limits_and_decode(
    device_type: str, fields: tuple[Any, ...], values: list[Any]
) -> None:
    buf = cpfw.ringbuf.RingBuffer(100)
    for seq in range(1, 31):
        buf.push([seq, NOW_MS + seq, *values])
    one = cpfw.payload.item_json(fields, buf.peek(0))
    payload, last_seq, count = cpfw.payload.next_batch(buf, fields, 10, 100_000)
    assert (last_seq, count) == (10, 10)
    assert [r.seq for r in _decode(device_type, payload)] == list(range(1, 11))
    # bytes: exactly three items fit in 3 * len + 4 ("[", two ",", "]")
    payload, last_seq, count = cpfw.payload.next_batch(buf, fields, 10, 3 * len(one) + 4)
    assert count == 3
    assert len(payload) <= 3 * len(one) + 4
    # a single reading goes out as an object
    buf.ack_through(29)
    payload, last_seq, count = cpfw.payload.next_batch(buf, fields, 10, 1000)
    assert payload.startswith(b"{")
    assert (last_seq, count) == (30, 1)
    assert _decode(device_type, payload)[0].seq == 30


def test_topics_match_the_contract() -> None:
    assert cpfw.uplink.telemetry_topic("bay-1") == telemetry_topic("bay-1")
    assert cpfw.uplink.status_topic("bay-1") == status_topic("bay-1")


# -- persistence -------------------------------------------------------------------------------


class _Board:
    def __init__(self) -> None:
        self.memory = b""

    def rtc_memory(self, data: bytes | None = None) -> bytes | None:
        if data is None:
            return self.memory
        assert len(data) <= 2048
        self.memory = data
        return None


def _cfg(tmp_path: Path, **buffer: int) -> dict[str, Any]:
    cfg: dict[str, Any] = cpfw.config.parse(
        {"device_id": "d", "wifi": {"ssid": "s"}, "mqtt": {"host": "h"}, "buffer": buffer}
    )
    cfg["root"] = str(tmp_path) + "/"
    return cfg


def test_state_survives_a_reset_through_rtc_memory(tmp_path: Path) -> None:
    board = _Board()
    state = cpfw.state.DeviceState(_cfg(tmp_path), board)
    assert not state.restored
    for i in range(5):
        state.record([i, True], NOW_MS + i)
    state.buffer.ack_through(2)
    state.extra["meter"] = [1, 2]
    state.save()
    again = cpfw.state.DeviceState(_cfg(tmp_path), board)
    assert again.restored
    assert again.buffer.items() == [
        [3, NOW_MS + 2, 2, True],
        [4, NOW_MS + 3, 3, True],
        [5, NOW_MS + 4, 4, True],
    ]
    assert again.extra == {"meter": [1, 2]}
    assert again.record([9, False], NOW_MS)[0] == 6


def test_timestamps_strictly_increase(tmp_path: Path) -> None:
    """The platform keeps one reading per (device, ts): two in one millisecond, or after NTP
    set the clock back, must not share a timestamp, and that holds across a reset too."""
    board = _Board()
    state = cpfw.state.DeviceState(_cfg(tmp_path), board)
    stamps = [state.record([n], ts)[1] for n, ts in enumerate([NOW_MS, NOW_MS, NOW_MS - 500])]
    assert stamps == [NOW_MS, NOW_MS + 1, NOW_MS + 2]
    state.save()
    again = cpfw.state.DeviceState(_cfg(tmp_path), board)
    assert again.record([9], NOW_MS)[1] == NOW_MS + 3
    assert again.record([9], NOW_MS + 60_000)[1] == NOW_MS + 60_000


def test_checkpoint_keeps_the_newest_that_fit_and_counts_the_rest(tmp_path: Path) -> None:
    board = _Board()
    state = cpfw.state.DeviceState(_cfg(tmp_path, capacity=500, rtc_bytes=600), board)
    for i in range(100):
        state.record([1000 + i, -60], NOW_MS + i)
    state.save()
    assert len(board.memory) <= 600
    again = cpfw.state.DeviceState(_cfg(tmp_path, capacity=500, rtc_bytes=600), board)
    kept = [item[0] for item in again.buffer.items()]
    assert kept == list(range(101 - len(kept), 101))
    assert again.buffer.dropped == 100 - len(kept)


def test_seq_never_repeats_after_power_loss(tmp_path: Path) -> None:
    board = _Board()
    cfg = _cfg(tmp_path, seq_block=10)
    writes = 0
    state = cpfw.state.DeviceState(cfg, board)
    original_save = cpfw.persist.FlashState.save

    def counting_save(self: Any) -> None:
        nonlocal writes
        writes += 1
        original_save(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cpfw.persist.FlashState, "save", counting_save)
        seen = [state.record([1], NOW_MS)[0] for _ in range(25)]
    assert seen == list(range(1, 26))
    assert writes == 3  # one flash write per block of 10
    state.save()
    # a reset keeps counting exactly...
    assert cpfw.state.DeviceState(cfg, board).record([1], NOW_MS)[0] == 26
    # ...a power loss (RTC memory gone) skips past the reservation but never repeats
    board.memory = b""
    after = cpfw.state.DeviceState(cfg, board).record([1], NOW_MS)[0]
    assert 26 < after <= 41


def test_garbage_in_rtc_memory_is_ignored(tmp_path: Path) -> None:
    board = _Board()
    board.memory = b"\xff\x00not json"
    state = cpfw.state.DeviceState(_cfg(tmp_path), board)
    assert not state.restored
    assert len(state.buffer) == 0
    (tmp_path / "state.json").write_text("{broken")
    assert cpfw.persist.FlashState(str(tmp_path / "state.json")).data == {}


# -- backoff and config ------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for attempt, (low, high) in {1: (500, 1000), 3: (2000, 4000), 10: (30000, 60000)}.items():
        waits = {cpfw.backoff.delay(attempt, 1000, 60000) for _ in range(200)}
        assert min(waits) >= low
        assert max(waits) <= high
        assert len(waits) > 20  # jittered, not lock-step
    assert cpfw.backoff.delay(99, 1000, 60000) <= 60000


@pytest.mark.parametrize("node", ["air_quality", "parking_bay", "smart_meter"])
def test_example_configs_are_valid(node: str, world: World) -> None:
    app = boot(node, world)
    path = FIRMWARE / node / "config.example.json"
    cfg = cpfw.config.load(str(path), app.NODE_DEFAULTS)
    assert cfg["mqtt"]["tls"] is False  # docs/firmware.md shows the TLS variant
    assert cfg["mqtt"]["username"] == cfg["device_id"]
    assert cfg["root"] == str(path.parent) + "/"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_id": "has space"}, "device_id"),
        ({"device_id": "x" * 65}, "device_id"),
        ({"wifi": {}}, "wifi.ssid"),
        ({"mqtt": {"host": "h", "tls": True}}, "ca_file"),
        ({"mqtt": {"host": "h", "port": 0}}, "mqtt.port"),
        ({"buffer": {"batch_items": 1001}}, "1000 items"),
        ({"sample_s": -1}, "sample_s"),
    ],
)
def test_bad_configs_are_refused_by_name(change: dict[str, Any], message: str) -> None:
    document = {"device_id": "d-1", "wifi": {"ssid": "s"}, "mqtt": {"host": "h"}, **change}
    with pytest.raises(cpfw.config.ConfigError, match=message):
        cpfw.config.parse(document)


def test_username_defaults_to_the_device_id() -> None:
    cfg = cpfw.config.parse(
        {"device_id": "bay-7", "wifi": {"ssid": "s"}, "mqtt": {"host": "h", "password": "secret"}}
    )
    assert (cfg["mqtt"]["username"], cfg["mqtt"]["password"]) == ("bay-7", "secret")
    assert cfg["sample_ms"] == 60000
    assert cfg["mqtt"]["keepalive_ms"] == 60000
