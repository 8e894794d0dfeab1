"""The device registry's model: devices, zones and memberships, with validation. Pure.

The database adapter is :mod:`devices.registry_db`; CSV and GeoJSON are :mod:`devices.registry_files`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from civicpulse.errors import RegistryError
from devices.attributes import validate_attributes
from devices.contract import valid_device_id
from devices.geo import BBox, GeometryError, bbox, contains, polygons
from devices.model import DeviceType

Consent = Literal["monthly", "daily", "half_hourly"]
CONSENT_LEVELS: tuple[Consent, ...] = ("monthly", "daily", "half_hourly")
ZONE_KINDS = ("ward", "parking_zone", "aqma", "other")


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    device_type: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    installed_on: date | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    consent: Consent | None = None
    """Smart meters only: the finest granularity the household allows (default: monthly)."""
    zones: tuple[str, ...] = ()
    """Explicit zone memberships; memberships by geometry are computed from the location."""


@dataclass(frozen=True, slots=True)
class Zone:
    zone_id: str
    kind: str
    name: str
    geometry: dict[str, Any] | None = None

    @property
    def bbox(self) -> BBox | None:
        return bbox(self.geometry) if self.geometry else None

    def contains(self, lon: float, lat: float) -> bool:
        if self.geometry is None:
            return False
        box = self.bbox
        assert box is not None
        if not (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]):
            return False
        return contains(self.geometry, lon, lat)


def validate(device: Device, types: Mapping[str, DeviceType]) -> Device:
    """The device with normalised attributes, or :class:`RegistryError` saying what is wrong."""
    if not valid_device_id(device.device_id):
        raise RegistryError(device.device_id, "ids are 1-64 characters of A-Z a-z 0-9 - _ . :")
    if device.device_id.startswith("svc-"):
        raise RegistryError(device.device_id, "the prefix 'svc-' is kept for service accounts")
    if device.device_type not in types:
        raise RegistryError(
            device.device_id,
            f"unknown type {device.device_type!r}; known: {', '.join(sorted(types))}",
        )
    if (device.latitude is None) != (device.longitude is None):
        raise RegistryError(device.device_id, "give both latitude and longitude, or neither")
    if device.latitude is not None and not -90 <= device.latitude <= 90:
        raise RegistryError(device.device_id, f"latitude {device.latitude} is out of range")
    if device.longitude is not None and not -180 <= device.longitude <= 180:
        raise RegistryError(device.device_id, f"longitude {device.longitude} is out of range")
    consent = device.consent
    if device.device_type == "smart_meter":
        if consent is None:
            consent = "monthly"  # the most private level until the household says otherwise
        elif consent not in CONSENT_LEVELS:
            raise RegistryError(
                device.device_id, f"consent must be one of {', '.join(CONSENT_LEVELS)}"
            )
    elif consent is not None:
        raise RegistryError(device.device_id, "consent applies to smart meters only")
    for zone_id in device.zones:
        if not valid_device_id(zone_id):
            raise RegistryError(device.device_id, f"bad zone id {zone_id!r}")
    try:
        attributes = validate_attributes(device.device_type, device.attributes)
    except ValueError as error:
        raise RegistryError(device.device_id, str(error)) from error
    return Device(
        device.device_id,
        device.device_type,
        device.name,
        device.latitude,
        device.longitude,
        device.vendor,
        device.model,
        device.firmware_version,
        device.installed_on,
        attributes,
        consent,
        tuple(dict.fromkeys(device.zones)),
    )


def validate_zone(zone: Zone) -> Zone:
    if not valid_device_id(zone.zone_id):
        raise RegistryError(zone.zone_id, "zone ids are 1-64 characters of A-Z a-z 0-9 - _ . :")
    if zone.kind not in ZONE_KINDS:
        raise RegistryError(zone.zone_id, f"zone kind must be one of {', '.join(ZONE_KINDS)}")
    if zone.geometry is not None:
        try:
            polygons(zone.geometry)
        except GeometryError as error:
            raise RegistryError(zone.zone_id, f"geometry: {error}") from error
    return zone


def memberships(
    devices: Iterable[Device], zones: Iterable[Zone]
) -> list[tuple[str, str, Literal["geometry", "explicit"]]]:
    """``(device_id, zone_id, source)`` for explicit zones and for every zone containing a device."""
    shaped = [z for z in zones if z.geometry is not None]
    out: list[tuple[str, str, Literal["geometry", "explicit"]]] = []
    for device in devices:
        explicit = set(device.zones)
        out.extend((device.device_id, zone_id, "explicit") for zone_id in device.zones)
        if device.latitude is None or device.longitude is None:
            continue
        for zone in shaped:
            if zone.zone_id not in explicit and zone.contains(device.longitude, device.latitude):
                out.append((device.device_id, zone.zone_id, "geometry"))
    return out
