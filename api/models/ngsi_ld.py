"""NGSI-LD entities (normalized representation) of the FIWARE Smart Data Models the API serves
read-only: ``ParkingSpot``, ``OnStreetParking``, ``AirQualityObserved``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from api.ngsi_ld.entities import CORE_CONTEXT, PARKING_CONTEXT

_SPOT: dict[str, Any] = {
    "id": "urn:ngsi-ld:ParkingSpot:cam-bay-00017",
    "type": "ParkingSpot",
    "status": {"type": "Property", "value": "free", "observedAt": "2026-11-25T07:52:10+00:00"},
    "category": {"type": "Property", "value": ["onStreet"]},
    "refParkingSite": {"type": "Relationship", "object": "urn:ngsi-ld:OnStreetParking:cpz-ca-c"},
    "location": {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [-0.14101, 51.53712]},
    },
    "refDevice": {"type": "Relationship", "object": ["urn:ngsi-ld:Device:cam-bay-00017"]},
    "name": {"type": "Property", "value": "Camden High Street bay 17"},
    "@context": [PARKING_CONTEXT, CORE_CONTEXT],
}


class Entity(BaseModel):
    """An entity: ``id`` and ``type``, then one member per attribute, each a ``Property``
    (``value``, maybe ``observedAt`` and ``unitCode``), ``GeoProperty`` or ``Relationship``
    (``object``). ``@context`` is in the body for ``application/ld+json``, in a ``Link`` header
    for ``application/json``."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={"examples": [_SPOT]},
    )
    id: str = Field(description="`urn:ngsi-ld:<type>:<id>`")
    type: Literal["ParkingSpot", "OnStreetParking", "AirQualityObserved"]
    context: list[str] | None = Field(
        default=None, alias="@context", description="The JSON-LD contexts (`application/ld+json`)"
    )


class EntityList(RootModel[list[Entity]]):
    """Entities of one type."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [[_SPOT]]})
