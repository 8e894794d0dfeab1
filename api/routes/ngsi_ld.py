"""``/v1/ngsi-ld/v1/entities``: bays, parking zones and air-quality monitors as NGSI-LD
entities of the FIWARE Smart Data Models (read-only), for clients and brokers that speak
NGSI-LD. The mapping is :mod:`api.ngsi_ld.entities`; the data are the same as the API's own
(the live board for parking, the current DAQI snapshot for air quality).

``Accept: application/ld+json`` (the default) puts ``@context`` in each entity;
``application/json`` leaves it out and links the context in a ``Link`` header, as NGSI-LD asks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import RootModel

from analytics.parking import fiware_status
from api.dependencies import Caller
from api.formats import JSON, choose
from api.live import Hub
from api.live.bays import BayPlace
from api.models.ngsi_ld import Entity, EntityList
from api.ngsi_ld import entities as ld
from api.operations import operation
from api.problems import ApiProblem
from api.representation import represent
from api.routes.air_quality import _snapshot
from api.routes.parking import Live
from api.runtime import runtime
from api.scopes import Principal
from devices.types import AIR_QUALITY
from storage.readings import latest

router = APIRouter(tags=["NGSI-LD"])

LD_JSON = "application/ld+json"
_CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
_POLLUTANTS = ("no2", "pm25", "pm10", "o3", "so2")


class LdJsonResponse(JSONResponse):
    media_type = LD_JSON


class _Entities(RootModel[list[dict[str, Any]]]):
    pass


class _Entity(RootModel[dict[str, Any]]):
    pass


def _ld(**kwargs: Any) -> dict[str, Any]:
    out = operation(**kwargs)
    out["response_class"] = LdJsonResponse
    return out


def _site_zone(live: Hub, place: BayPlace) -> str | None:
    """The controlled parking zone a bay lies in: the registry's (by geometry or by name), else
    the zone its plate names if the registry holds it; ``None``: a spot without a site."""
    zones = live.board.zones
    for zone in place.zones:
        if zone in zones and zones[zone].kind == "parking_zone":
            return zone
    named = place.info.zone
    return named if named in zones else None


def _spots(live: Hub, wanted: set[str] | None) -> list[dict[str, Any]]:
    out = []
    for device_id in sorted(live.board.places):
        place = live.board.places[device_id]
        site = _site_zone(live, place)
        if place.lon is None or place.lat is None or site is None:
            continue
        if wanted is not None and ld.urn("ParkingSpot", device_id) not in wanted:
            continue
        state = live.board.state(device_id)
        observed = state.last_seen if state.last_seen is not None else state.since
        out.append(
            ld.parking_spot(
                device_id=device_id,
                name=place.name,
                lon=place.lon,
                lat=place.lat,
                status=fiware_status(state.status),
                observed_at=None if observed is None else _utc(observed),
                site_zone=site,
            )
        )
    return out


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _sites(live: Hub, wanted: set[str] | None) -> list[dict[str, Any]]:
    members: dict[str, list[BayPlace]] = {}
    for place in live.board.places.values():
        site = _site_zone(live, place)
        if site is not None and place.lon is not None and place.lat is not None:
            members.setdefault(site, []).append(place)
    out = []
    for zone_id in sorted(members):
        if wanted is not None and ld.urn("OnStreetParking", zone_id) not in wanted:
            continue
        zone, places = live.board.zones[zone_id], members[zone_id]
        geometry: dict[str, Any] = (
            dict(zone.geometry)
            if zone.geometry
            else {"type": "MultiPoint", "coordinates": [[p.lon, p.lat] for p in places]}
        )
        counts = live.board.zone_counts(zone_id)
        out.append(
            ld.on_street_parking(
                zone_id=zone_id,
                name=zone.name,
                geometry=geometry,
                total=counts.counts.total,
                free=counts.counts.free,
                occupied=counts.counts.occupied,
                observed_at=counts.changed_at,
                restrictions=[p.restriction for p in places],
                spots=sorted(p.info.device_id for p in places),
            )
        )
    return out


async def _observed(request: Request, wanted: set[str] | None) -> list[dict[str, Any]]:
    snap = await _snapshot(request)
    async with runtime(request).read() as conn:
        newest = {row.device_id: row for row in await latest(conn, AIR_QUALITY)}
    out = []
    for device_id in sorted(snap.sites):
        site, row = snap.sites[device_id], newest.get(device_id)
        if site.lon is None or site.lat is None or row is None:
            continue
        if wanted is not None and ld.urn("AirQualityObserved", device_id) not in wanted:
            continue
        daqi = snap.monitors[device_id]
        level = daqi.level
        out.append(
            ld.air_quality_observed(
                device_id=device_id,
                name=site.name,
                lon=site.lon,
                lat=site.lat,
                observed_at=row.ts,
                concentrations={
                    p: None if row.values.get(p) is None else float(row.values[p])  # type: ignore[arg-type]
                    for p in _POLLUTANTS
                },
                index=daqi.index,
                level=None if level is None else level.band.value.lower(),
                area=", ".join(snap.zone_names.get(z, z) for z in site.zones) or None,
            )
        )
    return out


async def _find(
    request: Request, live: Hub, kind: ld.EntityType, wanted: set[str] | None
) -> list[dict[str, Any]]:
    if kind == "ParkingSpot":
        return _spots(live, wanted)
    if kind == "OnStreetParking":
        return _sites(live, wanted)
    return await _observed(request, wanted)


def _answer(
    request: Request,
    principal: Principal,
    found: list[dict[str, Any]] | dict[str, Any],
    kind: ld.EntityType,
) -> Response:
    media = choose(request.headers.get("accept"), None, json_type=LD_JSON, csv=False)
    headers: dict[str, str] = {}
    entities = found if isinstance(found, list) else [found]
    if media == LD_JSON:
        for entity in entities:
            entity["@context"] = ld.context(kind)
    else:
        headers["Link"] = f"<{ld.DOMAIN_CONTEXT[kind]}>; {_CONTEXT_REL}"
    body = _Entities(found) if isinstance(found, list) else _Entity(found)
    return represent(request, principal, body, json_type=LD_JSON, headers=headers)


@router.get(
    "/ngsi-ld/v1/entities",
    **_ld(
        summary="NGSI-LD entities of one type",
        description="Bays as `ParkingSpot`, controlled parking zones as `OnStreetParking`"
        " (with `totalSpotNumber`, `availableSpotNumber`, `occupiedSpotNumber` now) and"
        " air-quality monitors as `AirQualityObserved` (their newest reading, with the UK DAQI as"
        " `airQualityIndex` and its band as `airQualityLevel`), in the NGSI-LD normalized"
        " representation of the FIWARE Smart Data Models, ordered by id. Read-only. `id` picks"
        " entities by id (comma-separated); `limit` and `offset` page. `@context` is in the"
        f" body for `{LD_JSON}` (the default) and in a `Link` header for `{JSON}`.",
        model=EntityList,
    ),
)
async def entities(
    request: Request,
    principal: Caller,
    live: Live,
    type: Annotated[ld.EntityType, Query(description="The entity type", examples=["ParkingSpot"])],
    id: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="Only these entity ids (comma-separated)",
            examples=["urn:ngsi-ld:ParkingSpot:cam-bay-00017"],
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Entities per page", examples=[100])
    ] = 100,
    offset: Annotated[
        int, Query(ge=0, le=1_000_000, description="Entities to skip", examples=[0])
    ] = 0,
) -> Response:
    wanted = None if id is None else {i.strip() for i in id.split(",") if i.strip()}
    found = await _find(request, live, type, wanted)
    page = found[offset : offset + limit]
    response = _answer(request, principal, page, type)
    if offset + limit < len(found):
        following = request.url.include_query_params(offset=offset + limit)
        response.headers.append("Link", f'<{following}>; rel="next"')
    return response


EntityId = Annotated[
    str,
    Path(
        pattern=r"^urn:ngsi-ld:(ParkingSpot|OnStreetParking|AirQualityObserved):[A-Za-z0-9._:-]{1,64}$",
        description="An entity id",
        examples=["urn:ngsi-ld:ParkingSpot:cam-bay-00017"],
    ),
]


@router.get(
    "/ngsi-ld/v1/entities/{entity_id}",
    **_ld(
        summary="One NGSI-LD entity",
        description="A `ParkingSpot`, `OnStreetParking` or `AirQualityObserved` entity by its"
        " id, as in `/v1/ngsi-ld/v1/entities`.",
        model=Entity,
    ),
)
async def entity(request: Request, principal: Caller, live: Live, entity_id: EntityId) -> Response:
    parsed = ld.parse_urn(entity_id)
    found = [] if parsed is None else await _find(request, live, parsed[0], {entity_id})
    if parsed is None or not found:
        raise ApiProblem("not-found", f"no entity {entity_id!r}")
    return _answer(request, principal, found[0], parsed[0])
