"""CivicPulse's bays, parking zones and monitors as NGSI-LD entities (ETSI GS CIM 009, normalized
representation) of the FIWARE Smart Data Models. Pure.

Models and their required attributes (``schema.json`` of each, smart-data-models on GitHub):

- ``ParkingSpot`` (``dataModel.Parking``): ``id``, ``type``, ``location``, ``status``
  (``free``, ``occupied``, ``closed``, ``unknown``: our statuses are already these words),
  ``category`` (``onStreet``), ``refParkingSite``. A spot cannot exist without a containing
  site: ours is the controlled parking zone the bay lies in.
- ``OnStreetParking`` (``dataModel.Parking``): ``id``, ``type``, ``location`` in the schema;
  the specification's text also asks for ``category``, ``allowedVehicleType``,
  ``requiredPermit``, ``permitActiveHours``, ``chargeType`` and ``occupancyDetectionType``
  (per-bay sensors: ``singleSpaceDetection``), which are given too. Counts:
  ``totalSpotNumber``, ``availableSpotNumber``, ``occupiedSpotNumber``.
- ``AirQualityObserved`` (``dataModel.Environment``): ``id``, ``type``, ``dateObserved``,
  ``location``; pollutants by their field names (``no2``, ``pm25`` …) with ``unitCode`` ``GQ``
  (UN/CEFACT: microgram per cubic metre); ``airQualityIndex`` and ``airQualityLevel`` carry the
  UK DAQI and its band.

Ids are URNs, ``urn:ngsi-ld:<type>:<our id>``. ``@context`` lists the model's context and then
the NGSI-LD core context, last, so that no term of the core can be redefined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
PARKING_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
)
ENVIRONMENT_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/"
    "context.jsonld"
)
EntityType = Literal["ParkingSpot", "OnStreetParking", "AirQualityObserved"]
TYPES: tuple[EntityType, ...] = ("ParkingSpot", "OnStreetParking", "AirQualityObserved")
DOMAIN_CONTEXT: Mapping[EntityType, str] = {
    "ParkingSpot": PARKING_CONTEXT,
    "OnStreetParking": PARKING_CONTEXT,
    "AirQualityObserved": ENVIRONMENT_CONTEXT,
}
MICROGRAM_PER_CUBIC_METRE = "GQ"
_PREFIX = "urn:ngsi-ld:"

# A bay's restriction (registry attribute) in the OnStreetParking category vocabulary.
_CATEGORY = {
    "residents": "forResidents",
    "disabled": "forDisabled",
    "loading": "forLoadUnload",
    "pay_and_display": "feeCharged",
}
_PERMIT = {"residents": "residentPermit", "disabled": "disabledPermit"}


def urn(entity_type: EntityType, local_id: str) -> str:
    return f"{_PREFIX}{entity_type}:{local_id}"


def parse_urn(entity_id: str) -> tuple[EntityType, str] | None:
    """The type and our id in an entity id we hand out; ``None`` for anything else."""
    if not entity_id.startswith(_PREFIX):
        return None
    kind, _, local = entity_id[len(_PREFIX) :].partition(":")
    for known in TYPES:
        if kind == known and local:
            return known, local
    return None


def context(entity_type: EntityType) -> list[str]:
    return [DOMAIN_CONTEXT[entity_type], CORE_CONTEXT]


def _property(
    value: object, *, observed_at: datetime | None = None, unit: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Property", "value": value}
    if observed_at is not None:
        out["observedAt"] = observed_at.isoformat()
    if unit is not None:
        out["unitCode"] = unit
    return out


def _relationship(target: str | list[str]) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def _location(geometry: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": dict(geometry)}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def _datetime(moment: datetime) -> dict[str, str]:
    return {"@type": "DateTime", "@value": moment.isoformat()}


def parking_spot(
    *,
    device_id: str,
    name: str | None,
    lon: float,
    lat: float,
    status: str,
    observed_at: datetime | None,
    site_zone: str,
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": urn("ParkingSpot", device_id),
        "type": "ParkingSpot",
        "status": _property(status, observed_at=observed_at),
        "category": _property(["onStreet"]),
        "refParkingSite": _relationship(urn("OnStreetParking", site_zone)),
        "location": _location(_point(lon, lat)),
        "refDevice": _relationship([f"{_PREFIX}Device:{device_id}"]),
    }
    if name:
        entity["name"] = _property(name)
    return entity


def on_street_parking(
    *,
    zone_id: str,
    name: str,
    geometry: Mapping[str, Any],
    total: int,
    free: int,
    occupied: int,
    observed_at: datetime,
    restrictions: Iterable[str | None],
    spots: Sequence[str],
) -> dict[str, Any]:
    kinds = sorted({r for r in restrictions if r})
    category = sorted({_CATEGORY[r] for r in kinds if r in _CATEGORY})
    permits = sorted({_PERMIT[r] for r in kinds if r in _PERMIT})
    return {
        "id": urn("OnStreetParking", zone_id),
        "type": "OnStreetParking",
        "name": _property(name),
        "location": _location(geometry),
        "category": _property(category),
        "allowedVehicleType": _property(["car"]),
        "requiredPermit": _property(permits),
        "permitActiveHours": _property({}),
        "chargeType": _property(["temporaryFee"] if "pay_and_display" in kinds else ["free"]),
        "occupancyDetectionType": _property(["singleSpaceDetection"]),
        "totalSpotNumber": _property(total),
        "availableSpotNumber": _property(free, observed_at=observed_at),
        "occupiedSpotNumber": _property(occupied, observed_at=observed_at),
        "refParkingSpot": _relationship([urn("ParkingSpot", s) for s in spots]),
    }


def air_quality_observed(
    *,
    device_id: str,
    name: str | None,
    lon: float,
    lat: float,
    observed_at: datetime,
    concentrations: Mapping[str, float | None],
    index: int | None,
    level: str | None,
    area: str | None,
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": urn("AirQualityObserved", device_id),
        "type": "AirQualityObserved",
        "dateObserved": _property(_datetime(observed_at)),
        "location": _location(_point(lon, lat)),
        "typeofLocation": _property("outdoor"),
        "refDevice": _relationship([f"{_PREFIX}Device:{device_id}"]),
    }
    if name:
        entity["name"] = _property(name)
    if area:
        entity["areaServed"] = _property(area)
    for pollutant, value in concentrations.items():
        if value is not None:
            entity[pollutant] = _property(
                value, observed_at=observed_at, unit=MICROGRAM_PER_CUBIC_METRE
            )
    if index is not None and level is not None:
        entity["airQualityIndex"] = _property(index, observed_at=observed_at)
        entity["airQualityLevel"] = _property(level, observed_at=observed_at)
    return entity
