"""Finding one device or zone for a request, and the path parameters that name them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Path

from api.models.common import ID_PATTERN
from devices.registry import Device, Zone
from devices.types import DEVICE_TYPES
from storage import registry
from storage.connection import Conn

DeviceTypeName = StrEnum("DeviceTypeName", {name: name for name in sorted(DEVICE_TYPES)})  # type: ignore[misc]
"""The device types, as the OpenAPI document lists them (from the plugins)."""

DeviceId = Annotated[
    str, Path(pattern=ID_PATTERN, description="A device id", examples=["aq-camden-001"])
]
ZoneId = Annotated[
    str, Path(pattern=ID_PATTERN, description="A zone id", examples=["ward-camden-town"])
]


async def find_device(conn: Conn, device_id: str) -> Device | None:
    # storage.registry lists devices but has no lookup by id yet; the registry is one borough's.
    found = await registry.device_types(conn, [device_id])
    if not found:
        return None
    return next((d for d in await registry.list_devices(conn) if d.device_id == device_id), None)


async def find_zone(conn: Conn, zone_id: str) -> tuple[Zone, int] | None:
    """The zone and how many devices are in it."""
    return next((z for z in await registry.zone_counts(conn) if z[0].zone_id == zone_id), None)
