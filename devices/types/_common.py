"""Fields every device type may add to a reading."""

from __future__ import annotations

from devices.model import FieldSpec

COMMON_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("battery_pct", "float", "%", "Battery charge", "%EL", 0.0, 100.0),
    FieldSpec("rssi_dbm", "float", "dBm", "Received signal strength", "dBm", -150.0, 0.0),
)
