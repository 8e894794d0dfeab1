"""Parking: availability per zone and street, bays near a point (GeoJSON), a zone's hourly
occupancy and its next-hour forecast."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.models.common import Timestamp, frozen
from api.models.geojson import Point

Status = Literal["free", "occupied", "unknown", "closed"]

_COUNTS = {"free": 41, "occupied": 162, "unknown": 3, "closed": 0, "total": 206}
_ZONE = {
    "zone_id": "cpz-ca-c",
    "name": "CPZ CA-C",
    **_COUNTS,
    "changed_at": "2026-11-25T08:14:03+00:00",
}
_ROW = {"group": "cpz-ca-c", "name": "CPZ CA-C", **_COUNTS}
_BAY = {
    "type": "Feature",
    "id": "cam-bay-00017",
    "geometry": {"type": "Point", "coordinates": [-0.14101, 51.53712]},
    "properties": {
        "bay_id": "B00017",
        "name": "Camden High Street bay 17",
        "street": "Camden High Street",
        "parking_zone": "CA-C",
        "zones": ["cpz-ca-c", "ward-camden-town"],
        "restriction": "pay_and_display",
        "max_stay_minutes": 240,
        "controlled_hours": "Mon-Sat 08:30-18:30",
        "status": "free",
        "since": "2026-11-25T07:52:10+00:00",
        "last_seen": "2026-11-25T07:52:10+00:00",
        "distance_m": 84.2,
    },
}
_HOUR = {
    "hour": "2026-11-25T08:00:00+00:00",
    "occupancy": 0.78,
    "occupied_bay_hours": 157.6,
    "observed_bay_hours": 202.1,
}


class Counts(BaseModel):
    """Bays by status (FIWARE's ``ParkingSpot.status`` words)."""

    model_config = frozen(_COUNTS)
    free: int
    occupied: int
    unknown: int = Field(
        description="No uplink within two heartbeats plus tolerance, or not confirmed yet"
    )
    closed: int = Field(description="Declared closed (suspended); still in the total")
    total: int


class ZoneAvailability(BaseModel):
    """A zone's bays right now."""

    model_config = frozen(_ZONE)
    zone_id: str
    name: str
    free: int
    occupied: int
    unknown: int
    closed: int
    total: int
    changed_at: Timestamp = Field(description="Since when the counts are what they are")


class AvailabilityRow(BaseModel):
    model_config = frozen(_ROW)
    group: str = Field(description="The zone id, or the street's name")
    name: str | None = Field(description="The zone's name (`null` for streets)")
    free: int
    occupied: int
    unknown: int
    closed: int
    total: int


class AvailabilityList(BaseModel):
    """Availability per zone or per street, right now."""

    model_config = frozen({"by": "zone", "zone_id": None, "items": [_ROW]})
    by: Literal["zone", "street"]
    zone_id: str | None = Field(description="Streets of this zone only")
    items: list[AvailabilityRow]


class BayProperties(BaseModel):
    model_config = frozen(_BAY["properties"])
    bay_id: str | None = Field(description="The council's bay reference")
    name: str | None
    street: str
    parking_zone: str = Field(description="The controlled parking zone the bay's plate names")
    zones: list[str] = Field(description="Zones the bay is in (see `/v1/zones`)")
    restriction: str | None = Field(description="pay_and_display, residents, disabled, loading")
    max_stay_minutes: int | None
    controlled_hours: str | None = Field(description="When the maximum stay applies (local)")
    status: Status
    since: Timestamp | None = Field(description="When the status began (`null`: never heard)")
    last_seen: Timestamp | None = Field(description="The sensor's newest uplink (device time)")
    distance_m: float = Field(description="From the point asked about, in metres")


class BayFeature(BaseModel):
    model_config = frozen(_BAY)
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="The bay's device id")
    geometry: Point
    properties: BayProperties


class BayCollection(BaseModel):
    """Bays within a radius of a point, nearest first; a GeoJSON FeatureCollection."""

    model_config = frozen({"type": "FeatureCollection", "features": [_BAY]})
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[BayFeature]


class OccupancyHour(BaseModel):
    model_config = frozen(_HOUR)
    hour: Timestamp = Field(description="The hour's start")
    occupancy: float | None = Field(
        description="Occupied share of the observed bay time (`unknown` time left out of both);"
        " `null` when no bay was observed"
    )
    occupied_bay_hours: float
    observed_bay_hours: float


class ZoneOccupancy(BaseModel):
    """A zone's occupancy hour by hour, from its bays' stored readings."""

    model_config = frozen(
        {
            "zone_id": "cpz-ca-c",
            "bays": 206,
            "start": "2026-11-24T08:00:00+00:00",
            "end": "2026-11-25T08:00:00+00:00",
            "items": [_HOUR],
        }
    )
    zone_id: str
    bays: int
    start: Timestamp
    end: Timestamp
    items: list[OccupancyHour]


class ZoneForecast(BaseModel):
    """Free bays expected in a zone an hour from now."""

    model_config = frozen(
        {
            "zone_id": "cpz-ca-c",
            "at": "2026-11-25T08:14:03+00:00",
            "target": "2026-11-25T09:14:03+00:00",
            "now": {"free": 41, "occupied": 162, "unknown": 3, "closed": 0, "total": 206},
            "expected_free": 28.4,
            "expected_occupancy": 0.86,
            "persistence": 0.62,
            "training_start": "2026-10-28T08:00:00+00:00",
            "training_end": "2026-11-25T08:00:00+00:00",
        }
    )
    zone_id: str
    at: Timestamp
    target: Timestamp = Field(description="The instant forecast (an hour after `at`)")
    now: Counts
    expected_free: float | None = Field(
        description="Bays with a known status now x (1 - predicted occupancy); `null` without"
        " a profile or any known bay"
    )
    expected_occupancy: float | None
    persistence: float | None = Field(
        description="How much of today's deviation from the weekly profile is expected to last"
        " the hour (fitted, 0-1)"
    )
    training_start: Timestamp
    training_end: Timestamp
