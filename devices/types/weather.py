"""Weather stations: the outdoor conditions that meter and air-quality analytics normalise by."""

from __future__ import annotations

from devices.model import DeviceType, FieldSpec
from devices.types._common import COMMON_FIELDS

WEATHER = DeviceType(
    name="weather",
    description="Weather station: outdoor temperature, humidity, wind speed and rainfall.",
    table="weather_readings",
    fields=(
        FieldSpec("temperature_c", "float", "°C", "Outdoor air temperature", "Cel", -50.0, 60.0),
        FieldSpec("humidity_pct", "float", "%", "Relative humidity", "%RH", 0.0, 100.0),
        FieldSpec("wind_speed_ms", "float", "m/s", "Mean wind speed", "m/s", 0.0, 75.0),
        FieldSpec(
            "rainfall_mm", "float", "mm", "Rainfall since the previous reading", "mm", 0.0, 500.0
        ),
        *COMMON_FIELDS,
    ),
    required_any=("temperature_c", "humidity_pct", "wind_speed_ms", "rainfall_mm"),
    expected_interval_s=600,
    samples=(
        b'{"ts": "2026-11-25T08:00:00Z", "seq": 88, "temperature_c": 6.4, "humidity_pct": 87,'
        b' "wind_speed_ms": 3.1, "rainfall_mm": 0.2}',
    ),
)
