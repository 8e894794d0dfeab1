"""The device codecs: every type's samples, every rejection reason, and generated garbage."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.codec import decode_message
from devices.contract import Limits, status_topic, telemetry_topic
from devices.model import DeviceType, Reason
from devices.types import DEVICE_TYPES

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LIMITS = Limits()
TYPES = list(DEVICE_TYPES.values())


def decode(device_type: DeviceType, payload: bytes, topic: str | None = None):  # type: ignore[no-untyped-def]
    return decode_message(
        topic or telemetry_topic("dev-1"), payload, NOW, lambda _id: device_type, LIMITS
    )


@pytest.mark.parametrize("device_type", TYPES, ids=lambda t: t.name)
def test_samples_decode_cleanly(device_type: DeviceType) -> None:
    assert device_type.samples, "every type ships sample payloads"
    for sample in device_type.samples:
        result = decode(device_type, sample)
        assert result.rejections == ()
        document = orjson.loads(sample)
        items = document if isinstance(document, list) else [document]
        assert len(result.readings) == len(items)
        for reading, item in zip(result.readings, items, strict=True):
            assert reading.device_id == "dev-1"
            assert reading.ts == datetime.fromisoformat(item["ts"])
            assert reading.seq == item.get("seq")
            for key, value in item.items():
                if key not in ("ts", "seq"):
                    assert reading.values[key] == value


def test_reading_values() -> None:
    result = decode(
        DEVICE_TYPES["air_quality"], b'{"ts":"2026-11-25T08:59:00+01:00","pm25":7,"seq":3}'
    )
    (reading,) = result.readings
    assert reading.ts == datetime(2026, 11, 25, 7, 59, tzinfo=UTC)
    assert reading.values == {"pm25": 7.0}
    assert isinstance(reading.values["pm25"], float)


def test_missing_timestamp_means_arrival_time() -> None:
    (reading,) = decode(DEVICE_TYPES["parking_bay"], b'{"occupied": false}').readings
    assert reading.ts == NOW
    assert reading.values == {"occupied": False}


AQ = DEVICE_TYPES["air_quality"]
BAY = DEVICE_TYPES["parking_bay"]
METER = DEVICE_TYPES["smart_meter"]


@pytest.mark.parametrize(
    ("device_type", "payload", "reason"),
    [
        (AQ, b"{", Reason.BAD_JSON),
        (AQ, b"\xff\xfe", Reason.BAD_JSON),
        (AQ, b"42", Reason.BAD_STRUCTURE),
        (AQ, b"[]", Reason.BAD_STRUCTURE),
        (AQ, b'{"pm25": -1}', Reason.OUT_OF_RANGE),
        (AQ, b'{"pm25": 1e6}', Reason.OUT_OF_RANGE),
        (AQ, b'{"pm25": "12"}', Reason.WRONG_TYPE),
        (AQ, b'{"pm25": true}', Reason.WRONG_TYPE),
        (AQ, b'{"pm25": null}', Reason.WRONG_TYPE),
        (AQ, b'{"pm25": NaN}', Reason.BAD_JSON),
        (AQ, b'{"battery_pct": 50}', Reason.MISSING_FIELD),
        (AQ, b'{"ts": "2026-11-25T08:00:00Z"}', Reason.MISSING_FIELD),
        (AQ, b'{"pm2_5": 3}', Reason.UNKNOWN_FIELD),
        (AQ, b'{"pm25": 3, "ts": "2026-11-25T08:00:00"}', Reason.BAD_TIMESTAMP),
        (AQ, b'{"pm25": 3, "ts": "today"}', Reason.BAD_TIMESTAMP),
        (AQ, b'{"pm25": 3, "ts": 1764061200}', Reason.BAD_TIMESTAMP),
        (AQ, b'{"pm25": 3, "ts": "2026-11-26T09:00:00Z"}', Reason.TIMESTAMP_IN_FUTURE),
        (AQ, b'{"pm25": 3, "ts": "2024-01-01T00:00:00Z"}', Reason.TIMESTAMP_TOO_OLD),
        (AQ, b'{"pm25": 3, "seq": -1}', Reason.BAD_SEQ),
        (AQ, b'{"pm25": 3, "seq": 1.5}', Reason.BAD_SEQ),
        (AQ, b'{"pm25": 3, "device_id": "someone-else"}', Reason.BAD_STRUCTURE),
        (BAY, b'{"occupied": 1}', Reason.WRONG_TYPE),
        (BAY, b'{"occupied": "true"}', Reason.WRONG_TYPE),
        (METER, b'{"gas_m3": 10}', Reason.MISSING_FIELD),
        (METER, b'{"electricity_import_kwh": 10, "power_w": -5}', Reason.OUT_OF_RANGE),
    ],
)
def test_rejections(device_type: DeviceType, payload: bytes, reason: Reason) -> None:
    result = decode(device_type, payload)
    assert result.readings == ()
    assert [r.reason for r in result.rejections] == [reason]
    assert result.rejections[0].detail


def test_whole_message_rejections() -> None:
    lookup_none = decode_message(telemetry_topic("ghost"), b"{}", NOW, lambda _id: None, LIMITS)
    assert [r.reason for r in lookup_none.rejections] == [Reason.UNKNOWN_DEVICE]
    big = decode(AQ, b'{"pm25": 1, "pad": "' + b"x" * LIMITS.max_payload_bytes + b'"}')
    assert [r.reason for r in big.rejections] == [Reason.PAYLOAD_TOO_LARGE]
    bad_topic = decode(AQ, b"{}", topic="civicpulse/v1/devices/a b/telemetry")
    assert [r.reason for r in bad_topic.rejections] == [Reason.BAD_TOPIC]
    many = decode(AQ, orjson.dumps([{"pm25": 1}] * (LIMITS.max_batch_items + 1)))
    assert [r.reason for r in many.rejections] == [Reason.BATCH_TOO_LARGE]


def test_batch_keeps_valid_items_and_rejects_the_rest_by_index() -> None:
    payload = orjson.dumps(
        [
            {"ts": "2026-11-25T08:00:00Z", "pm25": 1},
            {"pm25": -1},
            7,
            {"ts": "2026-11-25T08:02:00Z", "no2": 30},
        ]
    )
    result = decode(AQ, payload)
    assert [r.values for r in result.readings] == [{"pm25": 1.0}, {"no2": 30.0}]
    assert [(r.item, r.reason) for r in result.rejections] == [
        (1, Reason.OUT_OF_RANGE),
        (2, Reason.BAD_STRUCTURE),
    ]
    assert orjson.loads(result.rejections[0].excerpt or b"") == {"pm25": -1}


def test_status_payloads() -> None:
    topic = status_topic("dev-1")
    online, offline = decode(AQ, b"online", topic).status, decode(AQ, b"offline", topic).status
    assert online is not None and online.online is True
    assert offline is not None and offline.online is False
    json_status = decode(AQ, b'{"status": "offline", "ts": "2026-11-25T08:00:00Z"}', topic)
    assert json_status.status is not None
    assert json_status.status.ts == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert decode(AQ, b"", topic).status is None  # clearing the retained message
    assert [r.reason for r in decode(AQ, b"sleeping", topic).rejections] == [Reason.BAD_STATUS]


def test_senml_pack() -> None:
    base = (NOW - timedelta(minutes=10)).timestamp()
    pack = [
        {"bn": "urn:dev:dev-1:", "bt": base, "n": "pm25", "u": "ug/m3", "v": 5.5},
        {"n": "no2", "u": "ug/m3", "v": 20},
        {"n": "pm25", "t": 60, "v": 6.0},
        {"n": "temperature_c", "u": "Cel", "t": 60, "v": 4.5},
    ]
    result = decode(AQ, orjson.dumps(pack))
    assert result.rejections == ()
    first, second = sorted(result.readings, key=lambda r: r.ts)
    assert first.ts == NOW - timedelta(minutes=10)
    assert first.values == {"pm25": 5.5, "no2": 20.0}
    assert second.ts == NOW - timedelta(minutes=9)
    assert second.values == {"pm25": 6.0, "temperature_c": 4.5}


def test_senml_relative_time_and_errors() -> None:
    pack = [
        {"bn": "bay/", "n": "occupied", "vb": True, "t": -30},
        {"n": "occupied", "v": 1, "t": -20},
        {"n": "colour", "vs": "red"},
        {"n": "battery_pct", "u": "V", "v": 3.3},
    ]
    result = decode(BAY, orjson.dumps(pack))
    (reading,) = result.readings
    assert reading.ts == NOW - timedelta(seconds=30)
    assert reading.values == {"occupied": True}
    assert sorted((r.item, r.reason) for r in result.rejections) == [
        (1, Reason.BAD_SENML),
        (2, Reason.UNKNOWN_FIELD),
        (3, Reason.BAD_SENML),
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=20,
)


def _field_names() -> list[str]:
    names = {f.name for t in TYPES for f in t.fields}
    return sorted(names | {"ts", "seq", "device_id", "n", "bn", "v", "vb", "t", "bt", "u"})


reading_like = st.dictionaries(
    st.sampled_from(_field_names()) | st.text(max_size=8),
    json_values | st.sampled_from(["2026-11-25T08:00:00Z", "2026-11-25T08:00:00", "x"]),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300), device_type=st.sampled_from(TYPES))
def test_random_bytes_never_raise(payload: bytes, device_type: DeviceType) -> None:
    result = decode(device_type, payload)
    assert result.readings or result.rejections
    assert all(r.reason in Reason and r.detail for r in result.rejections)


@settings(max_examples=400, deadline=None)
@given(
    document=json_values | reading_like | st.lists(reading_like, min_size=1, max_size=6),
    device_type=st.sampled_from(TYPES),
)
def test_random_json_is_stored_or_quarantined(document: Any, device_type: DeviceType) -> None:
    # stdlib json: it also writes integers beyond 64 bits, which devices might send
    result = decode(device_type, json.dumps(document).encode())
    assert all(r.reason in Reason and r.detail for r in result.rejections)
    for reading in result.readings:
        assert any(name in reading.values for name in device_type.required_any)
        for name, value in reading.values.items():
            spec = device_type.by_name[name]
            if spec.kind == "bool":
                assert isinstance(value, bool)
            else:
                assert isinstance(value, float)
                assert math.isfinite(value)
                assert spec.minimum is None or value >= spec.minimum
                assert spec.maximum is None or value <= spec.maximum
        assert reading.ts - NOW <= LIMITS.max_future_skew
        assert NOW - reading.ts <= LIMITS.max_age
    whole = [r for r in result.rejections if r.item is None]
    if whole:
        # The whole message was refused (e.g. not JSON): one rejection, nothing stored.
        assert result.readings == ()
        assert len(result.rejections) == 1
    elif isinstance(document, dict):
        assert len(result.readings) + len(result.rejections) == 1
    elif isinstance(document, list) and not (
        isinstance(document[0], dict) and ("n" in document[0] or "bn" in document[0])
    ):
        # Plain batches account for every item: stored or quarantined, never dropped.
        assert len(result.readings) + len(result.rejections) == len(document)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), device_type=st.sampled_from(TYPES))
def test_valid_generated_readings_round_trip(data: st.DataObject, device_type: DeviceType) -> None:
    values: dict[str, Any] = {}
    for spec in device_type.fields:
        if spec.kind == "bool":
            values[spec.name] = data.draw(st.booleans())
        else:
            values[spec.name] = data.draw(
                st.floats(min_value=spec.minimum, max_value=spec.maximum, allow_nan=False)
            )
    offset = data.draw(st.integers(min_value=0, max_value=86_400 * 300))
    ts = NOW - timedelta(seconds=offset)
    seq = data.draw(st.integers(min_value=0, max_value=2**63 - 1))
    result = decode(device_type, orjson.dumps({"ts": ts.isoformat(), "seq": seq, **values}))
    (reading,) = result.readings
    assert reading.ts == ts
    assert reading.seq == seq
    assert reading.values == values
