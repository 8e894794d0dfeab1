"""Devices as GeoJSON features, device types, and device health."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from api.models.common import FIELD_EXAMPLE, FieldInfo, Timestamp, frozen
from api.models.geojson import Point
from api.pagination import Links

_DEVICE = {
    "type": "Feature",
    "id": "aq-camden-001",
    "geometry": {"type": "Point", "coordinates": [-0.1426, 51.539]},
    "properties": {
        "device_type": "air_quality",
        "name": "Camden Road roadside monitor",
        "vendor": "Acme",
        "model": "AQ-5",
        "firmware_version": "1.4.2",
        "installed_on": "2026-03-01",
        "zones": ["ward-camden-town"],
        "attributes": {"site_type": "roadside"},
        "consent": None,
    },
}


class DeviceProperties(BaseModel):
    model_config = frozen(_DEVICE["properties"])
    device_type: str = Field(description="The device type (see `/v1/device-types`)")
    name: str | None
    vendor: str | None
    model: str | None
    firmware_version: str | None
    installed_on: date | None
    zones: list[str] = Field(description="Zones the device is in (by location or by name)")
    attributes: dict[str, str | int | float | bool | None] = Field(
        description="Type-specific attributes (a bay's restriction, a monitor's site type)"
    )
    consent: Literal["monthly", "daily", "half_hourly"] | None = Field(
        description="Smart meters: the finest granularity the household consents to"
    )


class DeviceFeature(BaseModel):
    """A device: its location (``null`` when it has none) and its properties."""

    model_config = frozen(_DEVICE)
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Point | None
    properties: DeviceProperties


class DeviceCollection(BaseModel):
    """A page of devices; a GeoJSON FeatureCollection with ``links`` as a foreign member."""

    model_config = frozen(
        {"type": "FeatureCollection", "features": [_DEVICE], "links": {"next": None}}
    )
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[DeviceFeature]
    links: Links


_TYPE = {
    "name": "air_quality",
    "description": "Air-quality monitor",
    "personal": False,
    "expected_interval_s": 300,
    "grains": ["hourly", "daily"],
    "fields": [FIELD_EXAMPLE],
}


class DeviceTypeInfo(BaseModel):
    """A device type: what it measures, in which units, and which rollups it has."""

    model_config = frozen(_TYPE)
    name: str
    description: str
    personal: bool = Field(
        description="Readings describe a household: per-device data only for its resident"
    )
    expected_interval_s: int = Field(description="How often a healthy device reports, seconds")
    grains: list[Literal["hourly", "daily", "monthly"]] = Field(description="Rollups available")
    fields: list[FieldInfo]


class DeviceTypeList(BaseModel):
    model_config = frozen({"items": [_TYPE]})
    items: list[DeviceTypeInfo]


_HEALTH = {
    "device_id": "bay-0117",
    "device_type": "parking_bay",
    "state": "late",
    "last_seen": "2026-11-25T06:12:09+00:00",
    "silence_s": 8123.0,
    "completeness": 0.83,
    "battery_pct": 14.0,
    "rssi_dbm": -97.0,
    "firmware_version": "2.0.1",
    "quarantine_rate": 0.0,
    "warnings": ["battery 14%", "only 83% of readings arrived"],
}


class DeviceHealth(BaseModel):
    """A device's liveness (by arrival) and completeness (by its own clock and ``seq``)."""

    model_config = frozen(_HEALTH)
    device_id: str
    device_type: str
    state: Literal["ok", "recovering", "late", "offline", "never_seen"]
    last_seen: Timestamp | None
    silence_s: float | None = Field(description="Seconds since last heard from")
    completeness: float | None = Field(description="Share of expected readings, 0 to 1, last 24 h")
    battery_pct: float | None
    rssi_dbm: float | None
    firmware_version: str | None
    quarantine_rate: float | None = Field(description="Share of messages quarantined, 0 to 1")
    warnings: list[str]


class HealthPage(BaseModel):
    model_config = frozen({"items": [_HEALTH], "links": {"next": None}})
    items: list[DeviceHealth]
    links: Links
