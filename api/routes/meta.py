"""``/v1``, ``/v1/me``, ``/v1/device-types`` and ``/v1/problems``: the API about itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.dependencies import Caller
from api.formats import FormatParam, Table
from api.models.common import FieldInfo
from api.models.devices import DeviceTypeInfo, DeviceTypeList
from api.models.meta import CallerInfo, Index, ProblemTypeInfo, ProblemTypeList
from api.operations import operation
from api.problems import PROBLEM_TYPES, TYPE_BASE, ApiProblem
from api.representation import represent
from api.runtime import runtime

router = APIRouter(tags=["about"])
VERSION = "1"


@router.get(
    "",
    **operation(
        summary="The API's index",
        description="Where each resource is, and the scope the API takes the caller to have.",
        model=Index,
    ),
)
async def index(request: Request, principal: Caller) -> Response:
    links = {
        "devices": "/v1/devices",
        "device_types": "/v1/device-types",
        "device_health": "/v1/device-health",
        "zones": "/v1/zones",
        "alerts": "/v1/alerts",
        "subscriptions": "/v1/alerts/subscriptions",
        "parking": "/v1/parking/availability",
        "air_quality": "/v1/air-quality/monitors",
        "ngsi_ld": "/v1/ngsi-ld/v1/entities?type=ParkingSpot",
        "open_data": "/v1/open-data",
        "problems": "/v1/problems",
        "docs": "/docs",
        "openapi": "/v1/openapi.json",
    }
    body = Index(name="CivicPulse API", version=VERSION, scope=principal.scope, links=links)
    return represent(request, principal, body)


@router.get(
    "/me",
    **operation(
        summary="Who the API takes the caller to be",
        description="The caller's scope and, for a resident key, its household. Handy to"
        " check a key or token.",
        model=CallerInfo,
    ),
)
async def me(request: Request, principal: Caller) -> Response:
    body = CallerInfo(
        scope=principal.scope, subject=principal.subject, household_id=principal.household_id
    )
    return represent(request, principal, body)


@router.get(
    "/device-types",
    **operation(
        summary="Device types, their fields and units",
        description="Every device type the platform knows, what each measures and in which"
        " unit, its plausible ranges, and the rollups it has.",
        model=DeviceTypeList,
        csv_example="type,field,kind,unit,description,minimum,maximum\r\n"
        "air_quality,no2,float,µg/m³,Nitrogen dioxide,0.0,2000.0\r\n",
    ),
)
async def device_types(request: Request, principal: Caller, format: FormatParam = None) -> Response:
    types = runtime(request).types.values()
    body = DeviceTypeList(
        items=[
            DeviceTypeInfo(
                name=t.name,
                description=t.description,
                personal=t.personal,
                expected_interval_s=t.expected_interval_s,
                grains=["hourly", "daily", "monthly"],
                fields=[
                    FieldInfo(
                        name=f.name,
                        kind=f.kind,
                        unit=f.unit,
                        description=f.description,
                        minimum=f.minimum,
                        maximum=f.maximum,
                    )
                    for f in t.fields
                ],
            )
            for t in sorted(types, key=lambda t: t.name)
        ]
    )

    def table() -> Table:
        return Table(
            ("type", "field", "kind", "unit", "description", "minimum", "maximum"),
            [
                (t.name, f.name, f.kind, f.unit, f.description, f.minimum, f.maximum)
                for t in body.items
                for f in t.fields
            ],
        )

    return represent(request, principal, body, table=table, format=format)


@router.get(
    "/problems",
    **operation(
        summary="The kinds of problem the API answers with",
        description="Every error is problem details (RFC 9457); its `type` is one of these.",
        model=ProblemTypeList,
    ),
)
async def problems(request: Request, principal: Caller) -> Response:
    body = ProblemTypeList(items=[_info(slug) for slug in PROBLEM_TYPES])
    return represent(request, principal, body)


@router.get(
    "/problems/{slug}",
    **operation(
        summary="One kind of problem",
        description="What a problem `type` means and what to do about it.",
        model=ProblemTypeInfo,
    ),
)
async def problem(
    request: Request,
    principal: Caller,
    slug: Annotated[
        str,
        Path(
            pattern=r"^[a-z-]{1,40}$",
            description="The type's last segment",
            examples=["rate-limited"],
        ),
    ],
) -> Response:
    if slug not in PROBLEM_TYPES:
        raise ApiProblem("not-found", f"no problem type {slug!r}")
    return represent(request, principal, _info(slug))


def _info(slug: str) -> ProblemTypeInfo:
    kind = PROBLEM_TYPES[slug]
    return ProblemTypeInfo(
        type=TYPE_BASE + slug, title=kind.title, status=kind.status, description=kind.description
    )
