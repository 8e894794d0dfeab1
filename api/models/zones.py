"""Zones (wards, parking zones, air-quality management areas) as GeoJSON features."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.models.common import frozen
from api.models.geojson import MultiPolygon, Polygon

_ZONE = {
    "type": "Feature",
    "id": "ward-camden-town",
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[-0.15, 51.53], [-0.13, 51.53], [-0.13, 51.55], [-0.15, 51.55], [-0.15, 51.53]]
        ],
    },
    "properties": {"kind": "ward", "name": "Camden Town", "devices": 214},
}


class ZoneProperties(BaseModel):
    model_config = frozen(_ZONE["properties"])
    kind: Literal["ward", "parking_zone", "aqma", "other"]
    name: str
    devices: int = Field(description="Devices in the zone")


class ZoneFeature(BaseModel):
    model_config = frozen(_ZONE)
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: Polygon | MultiPolygon | None
    properties: ZoneProperties


class ZoneCollection(BaseModel):
    model_config = frozen({"type": "FeatureCollection", "features": [_ZONE]})
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ZoneFeature]
