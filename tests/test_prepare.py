"""Batch preparation: rows in table column order, quarantine rows, and no crash on codec bugs."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson

from devices.contract import Limits, telemetry_topic
from devices.model import DeviceType, FieldSpec, Reason
from devices.types import DEVICE_TYPES
from ingest.prepare import InMessage, prepare


def _message(topic: str, payload: bytes) -> InMessage:
    return InMessage(topic, payload, 1, 1, 0, time.time())


def test_rows_follow_the_table_column_order() -> None:
    meter = DEVICE_TYPES["smart_meter"]
    ts = datetime.now(UTC).replace(microsecond=0)
    payload = orjson.dumps({"ts": ts.isoformat(), "power_w": 5, "electricity_import_kwh": 1.5})
    batch = prepare(
        [_message(telemetry_topic("m1"), payload)], lambda _id: meter, Limits(), DEVICE_TYPES
    )
    (row,) = batch.rows["smart_meter"]
    device_id, _, seq, received_at, *values = row
    assert (device_id, row[1], seq) == ("m1", ts, None)
    assert isinstance(received_at, datetime)
    assert dict(zip(meter.columns, values, strict=True)) == {
        "electricity_import_kwh": 1.5,
        "gas_m3": None,
        "power_w": 5.0,
        "battery_pct": None,
        "rssi_dbm": None,
    }


def test_batch_items_are_quarantined_with_their_own_json() -> None:
    aq = DEVICE_TYPES["air_quality"]
    payload = orjson.dumps([{"pm25": 1}, {"pm25": "x"}])
    batch = prepare(
        [_message(telemetry_topic("a1"), payload)], lambda _id: aq, Limits(), DEVICE_TYPES
    )
    assert len(batch.rows["air_quality"]) == 1
    (bad,) = batch.quarantine
    assert (bad.item, bad.reason, bad.device_id) == (1, Reason.WRONG_TYPE, "a1")
    assert orjson.loads(bad.payload) == {"pm25": "x"}


class _Exploding(float):
    """A bound whose comparison raises, standing in for a bug in a codec."""

    def __ge__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __le__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __gt__(self, other: object) -> bool:
        raise RuntimeError("boom")


def test_a_codec_bug_is_quarantined_not_raised() -> None:
    broken = DeviceType(
        name="air_quality",
        description="",
        table="air_quality_readings",
        fields=(FieldSpec("pm25", "float", "", "", None, _Exploding(0.0), 10.0),),
        required_any=("pm25",),
        expected_interval_s=300,
    )
    batch = prepare(
        [_message(telemetry_topic("a1"), b'{"pm25": 1}'), _message(telemetry_topic("a1"), b"{")],
        lambda _id: broken,
        Limits(),
        DEVICE_TYPES,
    )
    assert [q.reason for q in batch.quarantine] == [Reason.DECODER_ERROR, Reason.BAD_JSON]
    assert "boom" in batch.quarantine[0].detail
    assert batch.quarantine[0].payload == b'{"pm25": 1}'
