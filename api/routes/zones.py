"""``/v1/zones`` (GeoJSON) and a zone's rollups of one device type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api.aggregates import (
    PUBLISHABLE_GRAIN,
    PUBLISHABLE_ZONE_KINDS,
    disclosure,
    household_buckets,
)
from api.dependencies import Caller, ReadConn
from api.formats import GEOJSON, FormatParam, Table
from api.lookup import DeviceTypeName, ZoneId, find_zone
from api.models.geojson import MultiPolygon, Polygon
from api.models.series import ZoneBucket, ZoneRollups
from api.models.zones import ZoneCollection, ZoneFeature, ZoneProperties
from api.operations import operation
from api.pagination import Cursor, Links, decode_cursor, encode_cursor, link_header, next_link
from api.problems import ApiProblem
from api.representation import represent
from api.routes.readings import rollup_table, stats, units
from api.runtime import runtime
from api.timerange import DEFAULT_SPANS, WINDOWS, End, Start, resolve, window
from devices.registry import Zone
from storage import readings, registry
from storage.readings import Selection

router = APIRouter(tags=["zones"])

KindFilter = Annotated[
    Literal["ward", "parking_zone", "aqma", "other"] | None,
    Query(description="Only zones of this kind", examples=["ward"]),
]


def _geometry(geometry: dict[str, Any] | None) -> Polygon | MultiPolygon | None:
    if geometry is None:
        return None
    if geometry.get("type") == "MultiPolygon":
        return MultiPolygon.model_validate(geometry)
    return Polygon.model_validate(geometry)


def _feature(zone: Zone, devices: int) -> ZoneFeature:
    return ZoneFeature(
        id=zone.zone_id,
        geometry=_geometry(zone.geometry),
        properties=ZoneProperties.model_validate(
            {"kind": zone.kind, "name": zone.name, "devices": devices}
        ),
    )


@router.get(
    "/zones",
    **operation(
        summary="Zones, as GeoJSON",
        description="Wards, parking zones, air-quality management areas and other named"
        " areas, with their boundaries and how many devices each holds.",
        model=ZoneCollection,
        geojson=True,
        csv_example="zone_id,kind,name,devices\r\nward-camden-town,ward,Camden Town,214\r\n",
    ),
)
async def list_zones(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    kind: KindFilter = None,
    format: FormatParam = None,
) -> Response:
    zones = [(z, n) for z, n in await registry.zone_counts(conn) if kind is None or z.kind == kind]
    body = ZoneCollection(features=[_feature(z, n) for z, n in zones])
    return represent(
        request,
        principal,
        body,
        format=format,
        json_type=GEOJSON,
        table=lambda: Table(
            ("zone_id", "kind", "name", "devices"),
            [(z.zone_id, z.kind, z.name, n) for z, n in zones],
        ),
    )


@router.get(
    "/zones/{zone_id}",
    **operation(
        summary="One zone, as a GeoJSON feature",
        description="A zone's boundary, kind, name and device count.",
        model=ZoneFeature,
        geojson=True,
    ),
)
async def get_zone(
    request: Request, principal: Caller, conn: ReadConn, zone_id: ZoneId
) -> Response:
    found = await find_zone(conn, zone_id)
    if found is None:
        raise ApiProblem("not-found", f"no zone {zone_id!r}")
    return represent(request, principal, _feature(*found), json_type=GEOJSON)


@router.get(
    "/zones/{zone_id}/rollups/{device_type}",
    **operation(
        summary="A zone's hourly or daily rollups of one device type",
        description="The zone's devices of one type, aggregated per bucket starting in `[start,"
        " end)`: counts and sums add up, the mean is over every reading in the zone. One answer"
        " covers at most 31 days of hours or 366 days of days; `links.next` continues. For"
        " household meters (`smart_meter`), daily totals over a ward only, each published only"
        " when enough households contribute and none dominates (`withheld` says why not);"
        " minimum and maximum are never published.",
        model=ZoneRollups,
        csv_example="zone_id,bucket,devices,samples,no2_n,no2_sum,no2_min,no2_max,no2_avg\r\n"
        "ward-camden-town,2026-11-24T08:00:00+00:00,14,168,168,7039.2,21.0,61.2,41.9\r\n",
    ),
)
async def zone_rollups(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    zone_id: ZoneId,
    device_type: Annotated[
        DeviceTypeName, Path(description="A device type", examples=["air_quality"])
    ],
    grain: Annotated[
        Literal["hourly", "daily"], Query(description="Hours or days (UTC)", examples=["daily"])
    ] = "hourly",
    start: Start = None,
    end: End = None,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    found = await find_zone(conn, zone_id)
    kind = runtime(request).types.get(device_type.value)
    if found is None or kind is None:
        raise ApiProblem("not-found", f"no zone {zone_id!r}" if found is None else "no such type")
    zone = found[0]
    if kind.personal and (zone.kind not in PUBLISHABLE_ZONE_KINDS or grain != PUBLISHABLE_GRAIN):
        raise ApiProblem(
            "household-data",
            f"household data is published as {PUBLISHABLE_GRAIN} totals over"
            f" {' or '.join(PUBLISHABLE_ZONE_KINDS)}s only",
        )
    start, end = resolve(start, end, now=datetime.now(UTC), span=DEFAULT_SPANS[grain])
    first = start
    if cursor:
        (first,) = decode_cursor(cursor, datetime)
        if not start <= first < end:
            raise ApiProblem("invalid-cursor")
    stop, following = window(first, end, WINDOWS[grain])
    names = kind.columns
    if kind.personal:
        rows = await readings.rollups(
            conn, kind, "daily", start=first, end=stop, selection=Selection(zone=zone_id)
        )
        items = [
            ZoneBucket(
                bucket=b.bucket,
                devices=b.devices,
                samples=b.samples,
                stats={n: None if s is None else stats(s) for n, s in b.stats.items()},
                withheld=dict(b.withheld),
            )
            for b in household_buckets(rows, names)
        ]
    else:
        items = [
            ZoneBucket(
                bucket=r.bucket,
                devices=r.devices,
                samples=r.samples,
                stats={n: stats(s) for n, s in r.stats.items()},
                withheld={},
            )
            for r in await readings.zone_rollups(
                conn, kind, grain, zone=zone_id, start=first, end=stop
            )
        ]
    next_url = next_link(request, None if following is None else encode_cursor(following))
    body = ZoneRollups(
        zone_id=zone_id,
        device_type=kind.name,
        grain=grain,
        units=units(kind),
        start=first,
        end=stop,
        disclosure=disclosure() if kind.personal else None,
        items=items,
        links=Links(next=next_url),
    )

    def table() -> Table:
        rows = []
        for b in items:
            cells: list[object] = [zone_id, b.bucket, b.devices, b.samples]
            for n in names:
                s = b.stats.get(n)
                cells += [None] * 5 if s is None else [s.n, s.sum, s.min, s.max, s.avg]
            rows.append(cells)
        return rollup_table(("zone_id", "bucket", "devices", "samples"), names, rows)

    return represent(
        request, principal, body, table=table, format=format, headers=link_header(next_url)
    )
