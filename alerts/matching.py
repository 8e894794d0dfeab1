"""Who is told about an alert: subscriptions whose area and interests it falls in. Pure.

A subscription names a zone (a ward, a parking zone) or a point and a radius. An alert about a
zone (its air quality) reaches the zone's subscribers and those whose point lies inside it; an
alert about a device (a bay, a monitor) reaches its zones' subscribers and those within their
radius of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alerts.lifecycle import LEVELS
from devices.geo import contains
from storage.alerts import Subscription

INTERESTS = {
    "zone_daqi": "air_quality",
    "sensor_flagged": "device_health",  # for officers: residents hear about the air, not the kit
    "bay_overstay": "parking",
    "device_offline": "device_health",
    "low_battery": "device_health",
    "data_gap": "device_health",
    "quarantine_rate": "device_health",
}
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Place:
    """Where an alert is: its zones, and the subject's position when it is a device."""

    zones: tuple[str, ...]
    lon: float | None = None
    lat: float | None = None


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def recipients(
    kind: str,
    level: str,
    place: Place,
    subscriptions: Iterable[Subscription],
    zone_geometry: Mapping[str, dict[str, Any] | None],
) -> list[Subscription]:
    """The subscriptions an alert of ``kind`` at ``level`` in ``place`` reaches."""
    interest = INTERESTS.get(kind)
    out = []
    for sub in subscriptions:
        if interest not in sub.kinds:
            continue
        if interest == "air_quality" and LEVELS.get(level, 0) < LEVELS.get(sub.min_level, 0):
            continue
        if _in_area(sub, place, zone_geometry):
            out.append(sub)
    return out


def _in_area(
    sub: Subscription, place: Place, zone_geometry: Mapping[str, dict[str, Any] | None]
) -> bool:
    if sub.zone_id is not None:
        return sub.zone_id in place.zones
    if sub.longitude is None or sub.latitude is None or sub.radius_m is None:
        return False
    if place.lon is not None and place.lat is not None:
        return distance_m(sub.longitude, sub.latitude, place.lon, place.lat) <= sub.radius_m
    return any(
        (geometry := zone_geometry.get(zone)) is not None
        and contains(geometry, sub.longitude, sub.latitude)
        for zone in place.zones
    )
