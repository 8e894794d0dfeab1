"""Distances on a city's scale (equirectangular, metres) for placing devices and events. Pure."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

Point = tuple[float, float]
"""(latitude, longitude) in degrees (WGS84)."""

_EARTH_M = 6_371_008.8


def _xy(p: Point, lat0: float) -> tuple[float, float]:
    k = math.pi / 180.0 * _EARTH_M
    return p[1] * k * math.cos(math.radians(lat0)), p[0] * k


def distance_m(a: Point, b: Point) -> float:
    """Distance between two nearby points, in metres."""
    ax, ay = _xy(a, a[0])
    bx, by = _xy(b, a[0])
    return math.hypot(ax - bx, ay - by)


def distance_to_line_m(p: Point, line: Sequence[Point]) -> float:
    """Distance from ``p`` to a polyline (a street's centre line), in metres."""
    if len(line) == 1:
        return distance_m(p, line[0])
    px, py = _xy(p, p[0])
    best = math.inf
    for a, b in itertools.pairwise(line):
        ax, ay = _xy(a, p[0])
        bx, by = _xy(b, p[0])
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        s = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
        best = min(best, math.hypot(px - ax - s * dx, py - ay - s * dy))
    return best


def inside_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Whether ``p`` lies inside ``polygon`` (ray casting; the ring need not be closed)."""
    lat, lon = p
    inside = False
    n = len(polygon)
    for i in range(n):
        (lat1, lon1), (lat2, lon2) = polygon[i], polygon[(i + 1) % n]
        if (lat1 > lat) != (lat2 > lat):
            cross = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < cross:
                inside = not inside
    return inside


def along(line: Sequence[Point], fraction: float, offset_m: float = 0.0) -> Point:
    """The point ``fraction`` (0..1) of the way along a polyline, moved ``offset_m`` to its left."""
    lengths = [distance_m(a, b) for a, b in itertools.pairwise(line)]
    target = fraction * sum(lengths)
    last = len(lengths) - 1
    for i, ((a, b), length) in enumerate(zip(itertools.pairwise(line), lengths, strict=True)):
        if target <= length or i == last:
            s = 0.0 if length == 0 else min(1.0, target / length)
            lat = a[0] + s * (b[0] - a[0])
            lon = a[1] + s * (b[1] - a[1])
            if offset_m and length:
                k = math.pi / 180.0 * _EARTH_M
                ux = (b[1] - a[1]) * k * math.cos(math.radians(lat)) / length
                uy = (b[0] - a[0]) * k / length
                lat += ux * offset_m / k
                lon -= uy * offset_m / (k * math.cos(math.radians(lat)))
            return lat, lon
        target -= length
    return line[-1]
