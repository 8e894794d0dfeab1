"""Household smart meters: cumulative electricity (and optionally gas) registers."""

from __future__ import annotations

from devices.model import DeviceType, FieldSpec
from devices.types._common import COMMON_FIELDS

SMART_METER = DeviceType(
    name="smart_meter",
    description="Smart meter: cumulative electricity import register in kWh; optional gas register"
    " in m³ and instantaneous power in W.",
    table="smart_meter_readings",
    fields=(
        FieldSpec(
            "electricity_import_kwh",
            "float",
            "kWh",
            "Electricity import register",
            "kWh",
            0.0,
            1e9,
        ),
        FieldSpec("gas_m3", "float", "m³", "Gas register", "m3", 0.0, 1e9),
        FieldSpec("power_w", "float", "W", "Instantaneous import power", "W", 0.0, 100_000.0),
        *COMMON_FIELDS,
    ),
    required_any=("electricity_import_kwh",),
    expected_interval_s=1800,
    personal=True,
    samples=(
        b'{"ts": "2026-11-25T08:00:00Z", "seq": 4410, "electricity_import_kwh": 12873.412,'
        b' "gas_m3": 5120.77, "power_w": 431}',
    ),
)
