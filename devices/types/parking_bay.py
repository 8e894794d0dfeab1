"""On-street parking-bay occupancy sensors (in-ground magnetometers, radar)."""

from __future__ import annotations

from devices.model import DeviceType, FieldSpec
from devices.types._common import COMMON_FIELDS

PARKING_BAY = DeviceType(
    name="parking_bay",
    description="Parking-bay sensor: occupied true/false, sent on change and as a heartbeat.",
    table="parking_bay_readings",
    fields=(
        FieldSpec("occupied", "bool", "", "A vehicle is in the bay"),
        *COMMON_FIELDS,
    ),
    required_any=("occupied",),
    expected_interval_s=3600,
    samples=(
        b'{"ts": "2026-11-25T08:00:00Z", "seq": 17, "occupied": true, "battery_pct": 88}',
        b'[{"ts": "2026-11-25T08:10:00Z", "seq": 18, "occupied": false},'
        b' {"ts": "2026-11-25T08:25:00Z", "seq": 19, "occupied": true}]',
    ),
)
