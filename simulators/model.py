"""The simulated devices and the registry attributes their signals depend on.

Attributes mirror the registry's (a household's property and heating fuel, a bay's restriction
and controlled hours, a monitor's site type) but are plain frozen dataclasses: the simulator
reads them from a scenario, a device list file or the registry's records as dicts, and never
imports the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from simulators.errors import ScenarioError

PropertyType = Literal["detached", "semi", "terrace", "flat"]
FloorArea = Literal["<50", "50-100", "100-150", ">150"]
HeatingFuel = Literal["gas", "electric", "other"]
Occupants = Literal["1", "2", "3-4", "5+"]
Consent = Literal["monthly", "daily", "half_hourly"]
Restriction = Literal["pay_and_display", "residents", "disabled", "loading"]
SiteType = Literal["roadside", "kerbside", "urban_background"]

DEVICE_TYPES = ("air_quality", "parking_bay", "smart_meter", "weather")


@dataclass(frozen=True, slots=True)
class Household:
    """A smart meter's household (registry attributes of a ``smart_meter``)."""

    household_id: str
    property_type: PropertyType = "terrace"
    floor_area_band: FloorArea = "50-100"
    heating_fuel: HeatingFuel = "gas"
    occupants_band: Occupants = "2"
    consent: Consent = "half_hourly"


@dataclass(frozen=True, slots=True)
class Treatment:
    """A known change in the energy use of some households from an instant on.

    Injected into the simulated meters so that end-to-end tests of the nudge trial can recover
    a known effect: -0.03 makes the treated households use 3 % less (electricity, gas and heat
    alike) in every half-hour that starts at or after ``start``.
    """

    household_ids: frozenset[str]
    start: float
    """POSIX seconds."""
    change: float = -0.03

    def __post_init__(self) -> None:
        if not self.change > -1.0:
            raise ValueError(f"a change of {self.change} would make use negative")


@dataclass(frozen=True, slots=True)
class Bay:
    """A parking bay's rules (registry attributes of a ``parking_bay``)."""

    bay_id: str
    street: str = "Unknown Street"
    parking_zone: str = "Z"
    restriction: Restriction = "pay_and_display"
    max_stay_minutes: int | None = None
    controlled_hours: str = "Mon-Sat 08:30-18:30"


@dataclass(frozen=True, slots=True)
class AirSite:
    """An air-quality monitor's siting (registry attributes of an ``air_quality`` device)."""

    site_type: SiteType = "urban_background"
    inlet_height_m: float = 2.5


@dataclass(frozen=True, slots=True)
class WeatherSite:
    """A weather station; ``urban_heat_c`` is how much warmer its spot runs than the city mean."""

    urban_heat_c: float = 0.5


Attributes = Household | Bay | AirSite | WeatherSite

_ATTRIBUTE_CLASSES: dict[str, type[Household] | type[Bay] | type[AirSite] | type[WeatherSite]] = {
    "smart_meter": Household,
    "parking_bay": Bay,
    "air_quality": AirSite,
    "weather": WeatherSite,
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "property_type": get_args(PropertyType),
    "floor_area_band": get_args(FloorArea),
    "heating_fuel": get_args(HeatingFuel),
    "occupants_band": get_args(Occupants),
    "consent": get_args(Consent),
    "restriction": get_args(Restriction),
    "site_type": get_args(SiteType),
}


@dataclass(frozen=True, slots=True)
class CityDevice:
    """One simulated device: identity, place, zones and its type's attributes."""

    device_id: str
    device_type: str
    latitude: float
    longitude: float
    zones: tuple[str, ...] = ()
    attributes: Attributes = field(default_factory=AirSite)

    def record(self) -> dict[str, Any]:
        """The device as a plain dict, the shape :func:`device_from_record` reads back."""
        return {
            "device_id": self.device_id,
            "device_type": self.device_type,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "zones": list(self.zones),
            "attributes": asdict(self.attributes),
        }


def attributes_from(device_type: str, values: Mapping[str, Any], device_id: str) -> Attributes:
    """Build a type's attributes from a dict, checking the enumerated values."""
    cls = _ATTRIBUTE_CLASSES.get(device_type)
    if cls is None:
        raise ScenarioError(device_id, f"unknown device type {device_type!r}")
    known = set(cls.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ScenarioError(
            device_id, f"unknown {device_type} attributes {sorted(unknown)}; known: {sorted(known)}"
        )
    for name, value in values.items():
        choices = _CHOICES.get(name)
        if choices is not None and value not in choices:
            raise ScenarioError(device_id, f"{name}={value!r}; expected one of {choices}")
    kwargs = dict(values)
    if device_type == "smart_meter":
        kwargs.setdefault("household_id", device_id)
    elif device_type == "parking_bay":
        kwargs.setdefault("bay_id", device_id)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ScenarioError(device_id, f"bad attributes: {error}") from error


def device_from_record(record: Mapping[str, Any]) -> CityDevice:
    """A device from a dict with ``device_id``, ``device_type``, ``latitude``, ``longitude``,
    optional ``zones`` (list) or ``zone`` (string) and ``attributes`` (dict)."""
    device_id = str(record.get("device_id", "?"))
    device_type = str(record.get("device_type", ""))
    if device_type not in DEVICE_TYPES:
        raise ScenarioError(device_id, f"device_type must be one of {DEVICE_TYPES}")
    zones = record.get("zones")
    if zones is None:
        zone = record.get("zone")
        zones = [zone] if zone else []
    try:
        latitude = float(record["latitude"])
        longitude = float(record["longitude"])
    except (KeyError, TypeError, ValueError) as error:
        raise ScenarioError(device_id, "latitude and longitude are required numbers") from error
    return CityDevice(
        device_id=device_id,
        device_type=device_type,
        latitude=latitude,
        longitude=longitude,
        zones=tuple(str(z) for z in zones),
        attributes=attributes_from(device_type, record.get("attributes") or {}, device_id),
    )
