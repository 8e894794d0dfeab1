"""Who may see which device, and whose series. Pure.

A device in a home (a type marked ``personal``: smart meters) is visible to staff and to its
own household's resident; to everyone else it does not exist (404, so that its id tells them
nothing). Its series (readings, latest, per-device rollups) go to its resident only: officers
and admins are refused (403) and read aggregates over many households instead. Devices of other
types, and their series, are open data.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from api.scopes import Principal
from devices.model import DeviceType
from devices.registry import Device


class Access(Enum):
    ALLOWED = "allowed"
    HIDDEN = "hidden"
    """Answer 404, as for a device that does not exist."""
    REFUSED = "refused"
    """Answer 403: the caller may know the device, not its household's consumption."""


def household_of(device: Device) -> str | None:
    value = device.attributes.get("household_id")
    return value if isinstance(value, str) else None


def is_personal(device: Device, types: Mapping[str, DeviceType]) -> bool:
    device_type = types.get(device.device_type)
    # A type whose plugin is gone: treat it as personal until someone says otherwise.
    return device_type is None or device_type.personal


def may_see(principal: Principal, device: Device, types: Mapping[str, DeviceType]) -> bool:
    if not is_personal(device, types):
        return True
    return principal.is_staff or principal.owns_household(household_of(device))


def series_access(principal: Principal, device: Device, types: Mapping[str, DeviceType]) -> Access:
    if not may_see(principal, device, types):
        return Access.HIDDEN
    if is_personal(device, types) and not principal.owns_household(household_of(device)):
        return Access.REFUSED
    return Access.ALLOWED
