"""GeoJSON (RFC 7946) geometries: WGS84 ``[longitude, latitude]`` positions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from api.models.common import frozen

Position = tuple[float, float]
_SQUARE = [[[-0.15, 51.53], [-0.13, 51.53], [-0.13, 51.55], [-0.15, 51.55], [-0.15, 51.53]]]


class Point(BaseModel):
    model_config = frozen({"type": "Point", "coordinates": [-0.1426, 51.5390]})
    type: Literal["Point"] = "Point"
    coordinates: Position


class Polygon(BaseModel):
    model_config = frozen({"type": "Polygon", "coordinates": _SQUARE})
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[list[float]]]


class MultiPolygon(BaseModel):
    model_config = frozen({"type": "MultiPolygon", "coordinates": [_SQUARE]})
    type: Literal["MultiPolygon"] = "MultiPolygon"
    coordinates: list[list[list[list[float]]]]
