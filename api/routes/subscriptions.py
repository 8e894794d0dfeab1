"""``/v1/alerts/subscriptions``: anyone may subscribe to an area's alerts, and unsubscribe
with the token they were given (the link in every message)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.dependencies import Caller, WriteConn
from api.models.alerts import CircleArea, Subscription, SubscriptionRequest, ZoneArea
from api.operations import operation
from api.problems import ApiProblem
from storage import alerts as store
from storage import registry

router = APIRouter(tags=["subscriptions"])

BASE = "/v1/alerts/subscriptions"
Token = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_-]{16,64}$",
        description="The subscription's token",
        examples=["x1Yf0c4o6YkM5n8vZpQ2rTgS7uW9aBcD"],
    ),
]


@router.post(
    "/alerts/subscriptions",
    **operation(
        summary="Subscribe to an area's alerts",
        description="Alerts in a zone, or within a radius of a point, by email, SMS, webhook"
        " or MQTT. The answer holds the subscription's token: the only way to unsubscribe, and"
        " never shown again. Contact details are kept to deliver alerts and are not readable"
        " through the API.",
        model=Subscription,
        status_code=201,
    ),
)
async def subscribe(_principal: Caller, conn: WriteConn, body: SubscriptionRequest) -> Response:
    area = body.area
    if isinstance(area, ZoneArea) and not any(
        z.zone_id == area.zone_id for z, _ in await registry.zone_counts(conn)
    ):
        raise ApiProblem("validation", f"no zone {area.zone_id!r}")
    made = await store.subscribe(
        conn,
        kinds=body.kinds,
        channels=body.channels.given(),
        zone_id=area.zone_id if isinstance(area, ZoneArea) else None,
        point=(area.lon, area.lat) if isinstance(area, CircleArea) else None,
        radius_m=area.radius_m if isinstance(area, CircleArea) else None,
        min_level=body.min_level,
        quiet=None if body.quiet is None else (body.quiet.start, body.quiet.end),
        max_per_day=body.max_per_day,
    )
    path = f"{BASE}/{made.token}"
    answer = Subscription(
        token=made.token,
        area=area,
        kinds=list(made.kinds),
        min_level=made.min_level,
        channels=sorted(made.channels),
        quiet=body.quiet,
        max_per_day=made.max_per_day,
        unsubscribe=path,
    )
    return Response(
        answer.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Location": path, "Cache-Control": "no-store"},
    )


@router.delete(
    "/alerts/subscriptions/{token}",
    **operation(
        summary="Unsubscribe",
        description="Ends the subscription whose token this is; no more alerts are sent to it."
        " An unknown or already ended token is 404.",
        model=None,
        status_code=204,
    ),
)
async def unsubscribe(_principal: Caller, conn: WriteConn, token: Token) -> Response:
    if not await store.unsubscribe(conn, token):
        raise ApiProblem("not-found", "no active subscription has this token")
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
