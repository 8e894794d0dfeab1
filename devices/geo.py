"""Just enough GeoJSON geometry for zones: bounding boxes and point-in-polygon. Pure.

Coordinates are WGS84 ``[longitude, latitude]`` as in GeoJSON (RFC 7946). Zones are a few
kilometres across, so planar ray casting on degrees is accurate for assigning devices to them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

Ring = Sequence[Sequence[float]]
BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


class GeometryError(ValueError):
    """A GeoJSON geometry that cannot serve as a zone."""


def polygons(geometry: dict[str, Any]) -> list[list[Ring]]:
    """The polygons (outer ring first, then holes) of a Polygon or MultiPolygon, validated."""
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    shapes: list[Any] | None
    if kind == "Polygon":
        shapes = [coordinates]
    elif kind == "MultiPolygon":
        shapes = coordinates if isinstance(coordinates, list) else None
    else:
        raise GeometryError(f"a zone needs a Polygon or MultiPolygon, not {kind!r}")
    if not shapes:
        raise GeometryError("no coordinates")
    out: list[list[Ring]] = []
    for shape in shapes:
        if not isinstance(shape, list) or not shape:
            raise GeometryError("a polygon is a list of linear rings")
        for ring in shape:
            _check_ring(ring)
        out.append(shape)
    return out


def _check_ring(ring: Any) -> None:
    if not isinstance(ring, list) or len(ring) < 4:
        raise GeometryError("a linear ring has at least four positions")
    for position in ring:
        if (
            not isinstance(position, list | tuple)
            or len(position) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position[:2])
        ):
            raise GeometryError(f"bad position {position!r:.60}")
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise GeometryError(f"position {position!r:.60} is outside WGS84 bounds")
    if list(ring[0][:2]) != list(ring[-1][:2]):
        raise GeometryError("a linear ring must end where it starts")


def bbox(geometry: dict[str, Any]) -> BBox:
    lons, lats = [], []
    for position in _positions(geometry):
        lons.append(float(position[0]))
        lats.append(float(position[1]))
    return min(lons), min(lats), max(lons), max(lats)


def _positions(geometry: dict[str, Any]) -> Iterator[Sequence[float]]:
    for polygon in polygons(geometry):
        for ring in polygon:
            yield from ring


def contains(geometry: dict[str, Any], lon: float, lat: float) -> bool:
    """Whether the point lies inside the geometry (inside an outer ring and in no hole)."""
    for polygon in polygons(geometry):
        outer, *holes = polygon
        if _in_ring(outer, lon, lat) and not any(_in_ring(h, lon, lat) for h in holes):
            return True
    return False


def _in_ring(ring: Ring, lon: float, lat: float) -> bool:
    inside = False
    for (x1, y1, *_), (x2, y2, *_) in pairwise(ring):
        if (y1 > lat) != (y2 > lat):
            crossing = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < crossing:
                inside = not inside
    return inside
