"""Device type plugins. Adding a sensor type: one module here, one line in ``DEVICE_TYPES``,
one migration for its table (see docs/add-a-sensor-type.md)."""

from __future__ import annotations

from devices.model import DeviceType
from devices.types.air_quality import AIR_QUALITY
from devices.types.parking_bay import PARKING_BAY
from devices.types.smart_meter import SMART_METER
from devices.types.weather import WEATHER

DEVICE_TYPES: dict[str, DeviceType] = {
    t.name: t for t in (AIR_QUALITY, PARKING_BAY, SMART_METER, WEATHER)
}

__all__ = ["AIR_QUALITY", "DEVICE_TYPES", "PARKING_BAY", "SMART_METER", "WEATHER"]
