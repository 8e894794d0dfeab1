"""A device type with its own payload format is one plugin module: no codec change.

The plugin here is a compact binary parking sensor (the kind LoRaWAN networks carry: a few
bytes, not JSON). Its ``decode`` unpacks the bytes and hands the values to the contract's
validation; the platform creates its tables from the plugin and stores what it decodes.
"""

from __future__ import annotations

import asyncio
import struct
import time
from datetime import UTC, datetime

from devices.codec import decode_item
from devices.contract import Limits, telemetry_topic
from devices.model import Decoded, DeviceType, FieldSpec, Reason, Rejection
from devices.types import DEVICE_TYPES
from devices.types._common import COMMON_FIELDS
from ingest.prepare import InMessage, prepare
from storage.connection import Mode, connect
from storage.migrate import migrate
from storage.writer import Store

# Byte 0: bit 0 occupied; byte 1: battery %; bytes 2-5: seq; bytes 6-9: Unix time (big-endian).
_FRAME = struct.Struct(">BBII")


def decode_compact(
    payload: bytes,
    *,
    device_type: DeviceType,
    device_id: str,
    received_at: datetime,
    limits: Limits,
) -> Decoded:
    if len(payload) != _FRAME.size:
        detail = f"expected {_FRAME.size} bytes, got {len(payload)}"
        return Decoded(rejections=(Rejection(Reason.BAD_STRUCTURE, detail),))
    flags, battery, seq, unix = _FRAME.unpack(payload)
    item = {
        "occupied": bool(flags & 1),
        "battery_pct": battery,
        "seq": seq,
        "ts": datetime.fromtimestamp(unix, UTC).isoformat(),
    }
    result = decode_item(item, device_type, device_id, received_at, limits)
    if isinstance(result, Rejection):
        return Decoded(rejections=(result,))
    return Decoded(readings=(result,))


COMPACT_BAY = DeviceType(
    name="compact_bay",
    description="Parking-bay sensor with a 10-byte binary uplink.",
    table="compact_bay_readings",
    fields=(FieldSpec("occupied", "bool", "", "A vehicle is in the bay"), *COMMON_FIELDS),
    required_any=("occupied",),
    expected_interval_s=3600,
    decode=decode_compact,
)
TYPES = {**DEVICE_TYPES, COMPACT_BAY.name: COMPACT_BAY}


def _message(device_id: str, payload: bytes) -> InMessage:
    return InMessage(telemetry_topic(device_id), payload, 1, 1, 0, time.time())


def test_a_binary_plugin_decodes_validates_and_is_stored(empty_db: str) -> None:
    now = int(time.time())
    messages = [
        _message("cb-1", _FRAME.pack(1, 87, 41, now - 60)),
        _message("cb-1", _FRAME.pack(0, 86, 42, now)),
        _message("cb-1", _FRAME.pack(0, 250, 43, now)),  # battery 250 %: out of range
        _message("cb-1", b"\x01\x02"),  # truncated frame
    ]
    batch = prepare(messages, lambda _id: COMPACT_BAY, Limits(), TYPES)
    assert [row[2] for row in batch.rows["compact_bay"]] == [41, 42]
    assert [(q.reason, q.detail[:20]) for q in batch.quarantine] == [
        (Reason.OUT_OF_RANGE, "battery_pct=250 is o"),
        (Reason.BAD_STRUCTURE, "expected 10 bytes, g"),
    ]

    async def store() -> list[tuple[object, ...]]:
        report = await migrate(empty_db, timescaledb="off", types=TYPES)
        assert "created compact_bay_readings and its hourly and daily rollups" in report.changes
        writer = await Store.open(empty_db, Mode.POSTGRES, TYPES)
        try:
            await writer.write(batch)
        finally:
            await writer.close()
        async with await connect(empty_db) as conn:
            cur = await conn.execute(
                "SELECT seq, occupied, battery_pct FROM compact_bay_readings ORDER BY seq"
            )
            return await cur.fetchall()

    assert asyncio.run(store()) == [(41, True, 87.0), (42, False, 86.0)]
