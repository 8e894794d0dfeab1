"""``/v1/devices`` (GeoJSON) and ``/v1/device-health``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from api.access import may_see
from api.auth import allow
from api.dependencies import Caller, ReadConn
from api.formats import GEOJSON, FormatParam, Table
from api.lookup import DeviceId, DeviceTypeName, find_device
from api.models.common import ID_PATTERN
from api.models.devices import (
    DeviceCollection,
    DeviceFeature,
    DeviceHealth,
    DeviceProperties,
    HealthPage,
)
from api.models.geojson import Point
from api.operations import operation
from api.pagination import (
    Cursor,
    Limit,
    Links,
    decode_cursor,
    encode_cursor,
    link_header,
    next_link,
)
from api.problems import ApiProblem
from api.representation import represent
from api.runtime import runtime
from api.scopes import Principal, Scope
from devices.health import Health
from devices.model import DeviceType
from devices.registry import Device
from storage import health, registry

router = APIRouter(tags=["devices"])

ZoneFilter = Annotated[
    str | None,
    Query(
        pattern=ID_PATTERN, description="Only devices in this zone", examples=["ward-camden-town"]
    ),
]
TypeFilter = Annotated[
    DeviceTypeName | None,
    Query(alias="type", description="Only devices of this type", examples=["parking_bay"]),
]
_DEVICE_CSV = (
    "device_id,device_type,name,longitude,latitude,vendor,model,firmware_version,installed_on,"
    "zones\r\naq-camden-001,air_quality,Camden Road roadside monitor,-0.1426,51.539,Acme,AQ-5,"
    "1.4.2,2026-03-01,ward-camden-town\r\n"
)
_ACCESS = (
    "Devices in homes (smart meters) are listed only for officers, admins and, for its own"
    " household, a resident key; to anyone else they do not exist."
)


def feature(device: Device, zones: Sequence[str]) -> DeviceFeature:
    geometry = None
    if device.longitude is not None and device.latitude is not None:
        geometry = Point(coordinates=(device.longitude, device.latitude))
    return DeviceFeature(
        id=device.device_id,
        geometry=geometry,
        properties=DeviceProperties(
            device_type=device.device_type,
            name=device.name,
            vendor=device.vendor,
            model=device.model,
            firmware_version=device.firmware_version,
            installed_on=device.installed_on,
            zones=list(zones),
            attributes=dict(device.attributes),
            consent=device.consent,
        ),
    )


def _device_table(features: Sequence[DeviceFeature]) -> Table:
    rows = []
    for f in features:
        p = f.properties
        lon, lat = f.geometry.coordinates if f.geometry else (None, None)
        rows.append(
            (
                f.id,
                p.device_type,
                p.name,
                lon,
                lat,
                p.vendor,
                p.model,
                p.firmware_version,
                p.installed_on,
                p.zones,
            )
        )
    return Table(
        (
            "device_id",
            "device_type",
            "name",
            "longitude",
            "latitude",
            "vendor",
            "model",
            "firmware_version",
            "installed_on",
            "zones",
        ),
        rows,
    )


@router.get(
    "/devices",
    **operation(
        summary="Devices, as GeoJSON",
        description="Registered devices with their location, zones and type-specific"
        " attributes, by id, a page at a time; filter by type and zone.",
        model=DeviceCollection,
        geojson=True,
        access=_ACCESS,
        csv_example=_DEVICE_CSV,
    ),
)
async def list_devices(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    type: TypeFilter = None,
    zone: ZoneFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    types = runtime(request).types
    after = decode_cursor(cursor, str)[0] if cursor else None
    visible = [
        d
        for d in await registry.list_devices(conn, zone=zone)
        if (type is None or d.device_type == type.value)
        and (after is None or d.device_id > after)
        and may_see(principal, d, types)
    ]
    page = visible[:limit]
    memberships = await registry.zones_of(conn)
    features = [feature(d, memberships.get(d.device_id, [])) for d in page]
    more = len(visible) > limit
    next_url = next_link(request, encode_cursor(page[-1].device_id) if more else None)
    body = DeviceCollection(features=features, links=Links(next=next_url))
    return represent(
        request,
        principal,
        body,
        table=lambda: _device_table(features),
        format=format,
        json_type=GEOJSON,
        headers=link_header(next_url),
    )


@router.get(
    "/devices/{device_id}",
    **operation(
        summary="One device, as a GeoJSON feature",
        description="A device's location, zones and attributes.",
        model=DeviceFeature,
        geojson=True,
        access=_ACCESS,
    ),
)
async def get_device(
    request: Request, principal: Caller, conn: ReadConn, device_id: DeviceId
) -> Response:
    device = await find_device(conn, device_id)
    if device is None or not may_see(principal, device, runtime(request).types):
        raise ApiProblem("not-found", f"no device {device_id!r}")
    zones = (await registry.zones_of(conn)).get(device_id, [])
    return represent(request, principal, feature(device, zones), json_type=GEOJSON)


StateFilter = Annotated[
    Literal["ok", "recovering", "late", "offline", "never_seen"] | None,
    Query(description="Only devices in this state", examples=["late"]),
]


def _health(h: Health) -> DeviceHealth:
    return DeviceHealth(
        device_id=h.device_id,
        device_type=h.device_type,
        state=h.state,
        last_seen=h.last_seen,
        silence_s=None if h.silence is None else h.silence.total_seconds(),
        completeness=h.completeness,
        battery_pct=h.battery_pct,
        rssi_dbm=h.rssi_dbm,
        firmware_version=h.firmware_version,
        quarantine_rate=h.quarantine_rate,
        warnings=list(h.warnings),
    )


@router.get(
    "/device-health",
    **operation(
        summary="Device health",
        description="Each device's liveness (judged by when its messages arrive, so a device"
        " sending its backlog after an outage is `recovering`, not `late`), completeness over"
        " the last 24 hours, battery, signal and quarantine rate. Devices in homes are not"
        " included: their readings are closed to the API's database role.",
        model=HealthPage,
        scopes=(Scope.DEVELOPER, Scope.OFFICER, Scope.ADMIN),
        csv_example="device_id,device_type,state,last_seen,silence_s,completeness,battery_pct,"
        "rssi_dbm,firmware_version,quarantine_rate,warnings\r\nbay-0117,parking_bay,late,"
        "2026-11-25T06:12:09+00:00,8123.0,0.83,14.0,-97.0,2.0.1,0.0,battery 14%\r\n",
    ),
)
async def device_health(
    request: Request,
    principal: Annotated[Principal, Depends(allow(Scope.DEVELOPER, Scope.OFFICER, Scope.ADMIN))],
    conn: ReadConn,
    type: TypeFilter = None,
    zone: ZoneFilter = None,
    state: StateFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    types = _open_types(runtime(request).types)
    after = decode_cursor(cursor, str)[0] if cursor else None
    assessed = [
        h
        for h in await health.fleet_health(conn, types, now=datetime.now(UTC), zone=zone)
        if (type is None or h.device_type == type.value)
        and (state is None or h.state == state)
        and (after is None or h.device_id > after)
    ]
    page = [_health(h) for h in assessed[:limit]]
    more = len(assessed) > limit
    next_url = next_link(request, encode_cursor(page[-1].device_id) if more else None)
    body = HealthPage(items=page, links=Links(next=next_url))

    def table() -> Table:
        names = tuple(DeviceHealth.model_fields)
        return Table(names, [tuple(getattr(h, n) for n in names) for h in page])

    return represent(
        request, principal, body, table=table, format=format, headers=link_header(next_url)
    )


def _open_types(types: Mapping[str, DeviceType]) -> dict[str, DeviceType]:
    return {name: t for name, t in types.items() if not t.personal}
