"""Type-specific device attributes: which keys each device type may carry, and their values.

Pure. Attributes are stored as JSON on the device; these schemas keep them consistent enough for
analytics to group by them (peer groups by property type, occupancy by restriction, …).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from devices.hours import EXAMPLE, ControlledHours

Validator = Callable[[Any], Any]

_HOUSEHOLD_ID = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


def _choice(*allowed: str) -> Validator:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return check


def _text(max_length: int = 200) -> Validator:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise ValueError(f"must be text of 1-{max_length} characters")
        return value.strip()

    return check


def _household(value: Any) -> Any:
    # Pseudonymous by construction: no names, addresses or meter numbers (MPAN/MPRN are
    # identifying), just an opaque key whose mapping to a person is kept elsewhere.
    if not isinstance(value, str) or not _HOUSEHOLD_ID.match(value):
        raise ValueError("must be an opaque id of 4-64 letters, digits, '-' or '_'")
    if value.isdigit() and len(value) in (13, 21, 10):
        raise ValueError("looks like a meter point number; use a pseudonymous id")
    return value


def _number(low: float, high: float, integer: bool = False) -> Validator:
    def check(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            value = int(value) if integer and value.isdigit() else float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if integer and value != int(value):
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return int(value) if integer else float(value)

    return check


def _hours(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"must be text like {EXAMPLE}")
    ControlledHours.parse(value)  # the ValueError says what it cannot read
    return value.strip()


SCHEMAS: dict[str, dict[str, Validator]] = {
    "smart_meter": {
        "household_id": _household,
        "property_type": _choice("detached", "semi", "terrace", "flat"),
        "floor_area_band": _choice("<50", "50-100", "100-150", ">150"),
        "heating_fuel": _choice("gas", "electric", "other"),
        "occupants_band": _choice("1", "2", "3-4", "5+"),
    },
    "parking_bay": {
        "bay_id": _text(64),
        "street": _text(),
        "parking_zone": _text(64),
        "restriction": _choice("pay_and_display", "residents", "disabled", "loading"),
        "max_stay_minutes": _number(1, 7 * 24 * 60, integer=True),
        "controlled_hours": _hours,
    },
    "air_quality": {
        "site_type": _choice("roadside", "kerbside", "urban_background"),
        "inlet_height_m": _number(0, 50),
    },
    "weather": {},
}

ALL_KEYS = frozenset(key for schema in SCHEMAS.values() for key in schema)


def validate_attributes(device_type: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised attributes, or ``ValueError`` naming the first bad key."""
    schema = SCHEMAS.get(device_type, {})
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None or value == "":
            continue
        check = schema.get(key)
        if check is None:
            raise ValueError(f"attribute {key!r} does not apply to {device_type}")
        try:
            out[key] = check(value)
        except (ValueError, TypeError) as error:
            raise ValueError(f"attribute {key} {error}") from error
    return out
