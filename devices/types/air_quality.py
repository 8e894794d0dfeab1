"""Roadside and background air-quality monitors (particulates, gases, temperature, humidity)."""

from __future__ import annotations

from devices.model import DeviceType, FieldSpec
from devices.types._common import COMMON_FIELDS

# Upper bounds sit well above anything recorded in London (PM2.5 hourly peaks are in the
# hundreds of µg/m³ on bonfire nights); higher values are instrument faults.
_POLLUTANTS = (
    FieldSpec("pm25", "float", "µg/m³", "Fine particulate matter PM2.5", "ug/m3", 0.0, 1000.0),
    FieldSpec("pm10", "float", "µg/m³", "Particulate matter PM10", "ug/m3", 0.0, 2000.0),
    FieldSpec("no2", "float", "µg/m³", "Nitrogen dioxide", "ug/m3", 0.0, 2000.0),
    FieldSpec("o3", "float", "µg/m³", "Ozone", "ug/m3", 0.0, 1000.0),
    FieldSpec("so2", "float", "µg/m³", "Sulphur dioxide", "ug/m3", 0.0, 2000.0),
)

AIR_QUALITY = DeviceType(
    name="air_quality",
    description="Air-quality monitor: PM2.5, PM10, NO2, O3, SO2 in µg/m³ (any subset).",
    table="air_quality_readings",
    fields=(
        *_POLLUTANTS,
        FieldSpec("temperature_c", "float", "°C", "Air temperature", "Cel", -50.0, 60.0),
        FieldSpec("humidity_pct", "float", "%", "Relative humidity", "%RH", 0.0, 100.0),
        *COMMON_FIELDS,
    ),
    required_any=("pm25", "pm10", "no2", "o3", "so2", "temperature_c", "humidity_pct"),
    expected_interval_s=300,
    samples=(
        b'{"ts": "2026-11-25T08:00:00Z", "seq": 1, "pm25": 12.5, "pm10": 20.1, "no2": 41.0}',
        b'{"ts": "2026-11-25T08:01:00+00:00", "seq": 2, "o3": 30.2, "temperature_c": 7.5,'
        b' "humidity_pct": 81, "battery_pct": 96}',
    ),
)
