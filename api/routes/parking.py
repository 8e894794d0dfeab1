"""``/v1/parking``: availability per zone and street, bays near a point, a zone's hourly
occupancy and its next-hour forecast.

What a bay's status is, what a zone counts, what occupancy and the forecast are: the parking
analytics decide (``analytics.parking``), never this module. Availability comes from the
process's live board (:mod:`api.live`), kept current by the change feed, so serving it reads no
database. Occupancy and the forecast are computed from stored readings
(:mod:`api.computed.parking`) and kept briefly: occupancy for a minute, a zone's weekly profile
for an hour (it is fitted on four weeks).
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from alerts.matching import distance_m
from analytics.parking import Profile, SlotOccupancy, fiware_status
from api.computed import parking as computed
from api.computed.cache import Cached
from api.dependencies import Caller
from api.formats import GEOJSON, FormatParam, Table
from api.live import Hub, ready_hub
from api.live.bays import BayPlace, ZoneCounts
from api.lookup import ZoneId
from api.models.common import ID_PATTERN
from api.models.geojson import Point
from api.models.parking import (
    AvailabilityList,
    AvailabilityRow,
    BayCollection,
    BayFeature,
    BayProperties,
    Counts,
    OccupancyHour,
    ZoneAvailability,
    ZoneForecast,
    ZoneOccupancy,
)
from api.operations import operation
from api.pagination import Limit
from api.problems import ApiProblem
from api.representation import represent
from api.runtime import runtime
from api.timerange import End, Start

router = APIRouter(tags=["parking"])

Live = Annotated[Hub, Depends(ready_hub)]
"""The hub, caught up (the NGSI-LD routes take it so); parking's own routes call
:func:`~api.live.ready_hub` themselves: a dependency costs the hottest route a tenth of its time."""
OCCUPANCY: Cached[SlotOccupancy | None] = Cached("parking-occupancy", ttl_s=60)
PROFILES: Cached[Profile | None] = Cached("parking-profiles", ttl_s=3600)
MAX_OCCUPANCY_SPAN = timedelta(days=31)
_COUNT_COLUMNS = ("free", "occupied", "unknown", "closed", "total")


def _zone(live: Hub, zone_id: str) -> str:
    """The zone's name; 404 for a zone the registry does not know."""
    found = live.board.zones.get(zone_id)
    if found is None:
        raise ApiProblem("not-found", f"no zone {zone_id!r}")
    return found.name


@router.get(
    "/parking/availability",
    **operation(
        summary="Free, occupied and unknown bays per zone or per street, now",
        description="Every zone holding bays (`by=zone`), or every street (`by=street`, of one"
        " zone with `zone`), with its bays by status as of now. A bay is `unknown` when its"
        " sensor missed two heartbeats (plus tolerance) or its state is not confirmed yet;"
        " changes are debounced (a minute) and ordered by the sensors' own clocks.",
        model=AvailabilityList,
        csv_example="group,name,free,occupied,unknown,closed,total\r\n"
        "cpz-ca-c,CPZ CA-C,41,162,3,0,206\r\n",
    ),
)
async def availability(
    request: Request,
    principal: Caller,
    by: Annotated[
        Literal["zone", "street"],
        Query(description="Count per zone or per street", examples=["street"]),
    ] = "zone",
    zone: Annotated[
        str | None,
        Query(
            pattern=ID_PATTERN, description="Only this zone (its streets)", examples=["cpz-ca-c"]
        ),
    ] = None,
    format: FormatParam = None,
) -> Response:
    live = await ready_hub(request)
    board = live.board
    if zone is not None:
        _zone(live, zone)
    rows: list[AvailabilityRow] = []
    if by == "zone":
        zones = (
            [zone] if zone is not None else sorted(z for z, bays in board.members.items() if bays)
        )
        for zone_id in zones:
            c = board.zone_counts(zone_id).counts
            rows.append(
                AvailabilityRow(
                    group=zone_id,
                    name=board.zones[zone_id].name if zone_id in board.zones else None,
                    **_counts(c.free, c.occupied, c.unknown, c.closed),
                )
            )
    else:
        for street, c in sorted(board.street_counts(zone).items()):
            rows.append(
                AvailabilityRow(
                    group=street, name=None, **_counts(c.free, c.occupied, c.unknown, c.closed)
                )
            )
    body = AvailabilityList(by=by, zone_id=zone, items=rows)
    return represent(
        request,
        principal,
        body,
        format=format,
        table=lambda: Table(
            ("group", "name", *_COUNT_COLUMNS),
            [(r.group, r.name, *(getattr(r, c) for c in _COUNT_COLUMNS)) for r in rows],
        ),
    )


def _counts(free: int, occupied: int, unknown: int, closed: int) -> dict[str, int]:
    return {
        "free": free,
        "occupied": occupied,
        "unknown": unknown,
        "closed": closed,
        "total": free + occupied + unknown + closed,
    }


@router.get(
    "/parking/zones/{zone_id}/availability",
    **operation(
        summary="A zone's free, occupied and unknown bays, now",
        description="The zone's bays by status as of now, kept current by the readings ingest"
        " commits (within about a second). For changes as they happen, stream"
        " `/v1/parking/zones/{zone_id}/availability/stream`.",
        model=ZoneAvailability,
    ),
)
async def zone_availability(request: Request, principal: Caller, zone_id: ZoneId) -> Response:
    live = await ready_hub(request)
    body = _zone_body(_zone(live, zone_id), live.board.zone_counts(zone_id))
    return represent(request, principal, body)


@functools.lru_cache(maxsize=1024)
def _zone_body(name: str, found: ZoneCounts) -> ZoneAvailability:
    """Made once per zone and change: the hottest route answers from it (bench/api.py)."""
    c = found.counts
    return ZoneAvailability(
        zone_id=found.zone_id,
        name=name,
        changed_at=found.changed_at,
        **_counts(c.free, c.occupied, c.unknown, c.closed),
    )


@router.get(
    "/parking/bays",
    **operation(
        summary="Bays near a point, nearest first (GeoJSON)",
        description="Parking bays within `radius_m` metres of (`lon`, `lat`), nearest first,"
        " with their status now; `status=free` for only the free ones.",
        model=BayCollection,
        geojson=True,
        csv_example="device_id,bay_id,street,status,since,distance_m,longitude,latitude\r\n"
        "cam-bay-00017,B00017,Camden High Street,free,2026-11-25T07:52:10+00:00,84.2,"
        "-0.14101,51.53712\r\n",
    ),
)
async def bays_near(
    request: Request,
    principal: Caller,
    lon: Annotated[
        float, Query(ge=-180, le=180, description="Longitude (WGS84)", examples=[-0.1426])
    ],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude (WGS84)", examples=[51.539])],
    radius_m: Annotated[
        float, Query(gt=0, le=5000, description="Search radius, metres", examples=[300])
    ] = 500.0,
    status: Annotated[
        Literal["free", "occupied", "unknown"] | None,
        Query(description="Only bays with this status", examples=["free"]),
    ] = None,
    limit: Limit = 100,
    format: FormatParam = None,
) -> Response:
    live = await ready_hub(request)
    board = live.board
    # A cheap box first (a degree of latitude is about 111 km), then the great-circle distance.
    dlat = radius_m / 111_000.0
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    found: list[tuple[float, BayFeature]] = []
    for device_id, place in board.places.items():
        if place.lon is None or place.lat is None:
            continue
        if abs(place.lat - lat) > dlat or abs(place.lon - lon) > dlon:
            continue
        distance = distance_m(lon, lat, place.lon, place.lat)
        if distance > radius_m:
            continue
        state = board.state(device_id)
        shown = fiware_status(state.status)
        if status is not None and shown != status:
            continue
        found.append(
            (distance, _bay(device_id, place, shown, state.since, state.last_seen, distance))
        )
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    features = [f for _, f in found[:limit]]
    body = BayCollection(features=features)

    def table() -> Table:
        rows = [
            (
                f.id,
                f.properties.bay_id,
                f.properties.street,
                f.properties.status,
                f.properties.since,
                f.properties.distance_m,
                *f.geometry.coordinates,
            )
            for f in features
        ]
        return Table(
            (
                "device_id",
                "bay_id",
                "street",
                "status",
                "since",
                "distance_m",
                "longitude",
                "latitude",
            ),
            rows,
        )

    return represent(request, principal, body, json_type=GEOJSON, format=format, table=table)


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _bay(
    device_id: str,
    place: BayPlace,
    status: str,
    since: float | None,
    last_seen: float | None,
    distance: float,
) -> BayFeature:
    assert place.lon is not None
    assert place.lat is not None
    info = place.info
    return BayFeature(
        id=device_id,
        geometry=Point(coordinates=(place.lon, place.lat)),
        properties=BayProperties(
            bay_id=info.bay_id,
            name=place.name,
            street=info.street,
            parking_zone=info.zone,
            zones=list(place.zones),
            restriction=place.restriction,
            max_stay_minutes=info.max_stay_minutes,
            controlled_hours=place.controlled_hours,
            status=status,  # type: ignore[arg-type]
            since=_moment(since),
            last_seen=_moment(last_seen),
            distance_m=round(distance, 1),
        ),
    )


@router.get(
    "/parking/zones/{zone_id}/occupancy",
    **operation(
        summary="A zone's occupancy, hour by hour",
        description="For each hour of `[start, end)` (whole hours; default the last 24, at most"
        " 31 days): occupied bay-hours over observed bay-hours of the zone's bays, computed"
        " from their stored readings. Time a bay was `unknown` counts in neither, so a silent"
        " sensor is neither a full bay nor an empty one. Hours after now are left out. Results"
        " are kept for a minute.",
        model=ZoneOccupancy,
        csv_example="zone_id,hour,occupancy,occupied_bay_hours,observed_bay_hours\r\n"
        "cpz-ca-c,2026-11-25T08:00:00+00:00,0.78,157.6,202.1\r\n",
    ),
)
async def zone_occupancy(
    request: Request,
    principal: Caller,
    zone_id: ZoneId,
    start: Start = None,
    end: End = None,
    format: FormatParam = None,
) -> Response:
    live = await ready_hub(request)
    _zone(live, zone_id)
    now = datetime.now(UTC)
    stop = _hour_ceiling(end.astimezone(UTC) if end is not None else now)
    first = _hour_floor(start.astimezone(UTC)) if start is not None else stop - timedelta(days=1)
    if not first < stop:
        raise ApiProblem("bad-request", "start must be before end")
    if stop - first > MAX_OCCUPANCY_SPAN:
        raise ApiProblem("bad-request", "at most 31 days at a time")
    until = min(stop, now.replace(second=0, microsecond=0))
    bays = list(live.board.members.get(zone_id, []))
    slots: SlotOccupancy | None = None
    if first < until and bays:

        async def compute() -> SlotOccupancy | None:
            async with runtime(request).read() as conn:
                return await computed.hourly_occupancy(conn, bays, first, until)

        slots = await OCCUPANCY.of(request).get((zone_id, first, until, len(bays)), compute)
    items = []
    if slots is not None:
        occupancy = slots.occupancy
        for k, hour in enumerate(slots.starts):
            share = float(occupancy[k])
            items.append(
                OccupancyHour(
                    hour=datetime.fromtimestamp(float(hour), UTC),
                    occupancy=None if math.isnan(share) else round(share, 4),
                    occupied_bay_hours=round(float(slots.occupied_s[k]) / 3600.0, 3),
                    observed_bay_hours=round(float(slots.observed_s[k]) / 3600.0, 3),
                )
            )
    body = ZoneOccupancy(zone_id=zone_id, bays=len(bays), start=first, end=stop, items=items)
    return represent(
        request,
        principal,
        body,
        format=format,
        table=lambda: Table(
            ("zone_id", "hour", "occupancy", "occupied_bay_hours", "observed_bay_hours"),
            [
                (zone_id, i.hour, i.occupancy, i.occupied_bay_hours, i.observed_bay_hours)
                for i in items
            ],
        ),
    )


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hour_ceiling(moment: datetime) -> datetime:
    floor = _hour_floor(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


@router.get(
    "/parking/zones/{zone_id}/forecast",
    **operation(
        summary="Free bays expected in a zone in an hour",
        description="The zone's weekly occupancy profile (local time, 15-minute slots, fitted"
        " on its last four weeks of readings and kept for an hour), nudged by how far the zone"
        " is from its profile now: `occupancy(t+1h) = P(t+1h) + persistence x (occupancy(t) -"
        " P(t))`. Expected free bays = bays with a known status now x (1 - that occupancy).",
        model=ZoneForecast,
    ),
)
async def zone_forecast(request: Request, principal: Caller, zone_id: ZoneId) -> Response:
    live = await ready_hub(request)
    _zone(live, zone_id)
    now = datetime.now(UTC)
    trained_to = _hour_floor(now)
    bays = list(live.board.members.get(zone_id, []))

    async def compute() -> Profile | None:
        async with runtime(request).read() as conn:
            return await computed.weekly_profile(conn, bays, now)

    profile = await PROFILES.of(request).get((zone_id, trained_to, len(bays)), compute)
    c = live.board.zone_counts(zone_id).counts
    known = c.free + c.occupied
    expected: float | None = None
    if profile is not None and known:
        value = profile.available(now.timestamp(), free=c.free, occupied=c.occupied)
        expected = None if math.isnan(value) else round(value, 2)
    body = ZoneForecast(
        zone_id=zone_id,
        at=now,
        target=now + timedelta(seconds=computed.HORIZON_S),
        now=Counts(**_counts(c.free, c.occupied, c.unknown, c.closed)),
        expected_free=expected,
        expected_occupancy=None if expected is None else round(1 - expected / known, 4),
        persistence=None if profile is None else round(profile.persistence, 4),
        training_start=trained_to - computed.TRAINING,
        training_end=trained_to,
    )
    return represent(request, principal, body)
