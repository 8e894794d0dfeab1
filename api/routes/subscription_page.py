"""``GET /v1/alerts/subscriptions/{token}``: the page every alert email links to.

A browser gets a page saying what the subscription covers, with a button to unsubscribe (a form
posting to ``…/unsubscribe``: forms cannot send ``DELETE``); an API client gets the subscription
as JSON. Contact details are never shown, only which channels carry the alerts. An unknown token
and a malformed one get the same answer, and count against the address (``api.pages.links``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from api.dependencies import Caller, WriteConn
from api.models.alerts import CircleArea, QuietHours, Subscription, ZoneArea
from api.models.common import Timestamp, frozen
from api.operations import operation
from api.pages import links
from api.pages.render import page, same_origin, wants_html
from api.problems import ApiProblem
from api.runtime import runtime
from storage import alerts as store
from storage import links as stored
from storage.connection import Conn
from storage.links import SubscriptionState

router = APIRouter(tags=["subscriptions"])

BASE = "/v1/alerts/subscriptions"
AnyToken = Annotated[
    str,
    Path(
        max_length=256,
        description="The subscription's token, from the link in an alert",
        examples=["x1Yf0c4o6YkM5n8vZpQ2rTgS7uW9aBcD"],
    ),
]
_KINDS = {
    "air_quality": "air quality",
    "parking": "parking",
    "device_health": "sensors going offline",
}
_CHANNELS = {
    "email": "email",
    "sms": "text message",
    "webhook": "web hook",
    "mqtt": "MQTT",
}


class SubscriptionStatus(Subscription):
    """A subscription as it stands; ended ones stay readable through their link."""

    model_config = frozen(
        {
            "token": "x1Yf0c4o6YkM5n8vZpQ2rTgS7uW9aBcD",
            "area": {"zone_id": "ward-camden-town"},
            "kinds": ["air_quality"],
            "min_level": "high",
            "channels": ["email"],
            "quiet": None,
            "max_per_day": 4,
            "unsubscribe": "/v1/alerts/subscriptions/x1Yf0c4o6YkM5n8vZpQ2rTgS7uW9aBcD",
            "active": True,
            "ended_at": None,
        }
    )
    active: bool = Field(description="`false` once unsubscribed: no more alerts are sent")
    ended_at: Timestamp | None = Field(description="When it was ended")


def _status(state: SubscriptionState) -> SubscriptionStatus:
    sub = state.subscription
    area: ZoneArea | CircleArea
    if sub.zone_id is not None:
        area = ZoneArea(zone_id=sub.zone_id)
    else:
        # A subscription names a zone or a circle (the table's constraint).
        area = CircleArea(
            lon=sub.longitude or 0.0, lat=sub.latitude or 0.0, radius_m=sub.radius_m or 500.0
        )
    quiet = None
    if sub.quiet_start is not None and sub.quiet_end is not None:
        quiet = QuietHours(start=sub.quiet_start, end=sub.quiet_end)
    return SubscriptionStatus(
        token=sub.token,
        area=area,
        kinds=list(sub.kinds),
        min_level=sub.min_level,
        channels=sorted(sub.channels),
        quiet=quiet,
        max_per_day=sub.max_per_day,
        unsubscribe=f"{BASE}/{sub.token}",
        active=state.unsubscribed_at is None,
        ended_at=state.unsubscribed_at,
    )


def _context(request: Request, state: SubscriptionState) -> dict[str, Any]:
    sub = state.subscription
    if sub.zone_id is not None:
        where = state.zone_name or sub.zone_id
    else:
        where = f"within {sub.radius_m or 0:,.0f} metres of the place you chose"
    return {
        "council_name": runtime(request).config.council_name,
        "token": sub.token,
        "where": where,
        "kinds": [_KINDS.get(k, k) for k in sub.kinds],
        "min_level": sub.min_level.replace("_", " "),
        "channels": [_CHANNELS.get(c, c) for c in sorted(sub.channels)],
        "quiet": None
        if sub.quiet_start is None or sub.quiet_end is None
        else (sub.quiet_start.strftime("%H:%M"), sub.quiet_end.strftime("%H:%M")),
        "max_per_day": sub.max_per_day,
        "ended": state.unsubscribed_at,
        "just_ended": request.query_params.get("ended") == "1",
    }


async def _find(
    request: Request, conn: Conn, token: str, html: bool
) -> SubscriptionState | Response:
    # An address that keeps trying unknown links is held back before this (``api.auth``).
    found = await stored.subscription_by_token(conn, token) if links.well_formed(token) else None
    if found is None:
        links.failed(request)
        if html:
            context = {"council_name": runtime(request).config.council_name}
            return page("subscription_missing.html", context, status=404)
        raise ApiProblem("not-found", "no subscription has this token")
    return found


_OPERATION = operation(
    summary="A subscription, or its page",
    description="What the subscription whose token this is covers, and whether it is still"
    " active. Browsers (`Accept: text/html`) get a page with a button to unsubscribe: the link"
    " in every alert opens it. Ended subscriptions stay readable (`active` is `false`). An"
    " unknown token is 404.",
    model=SubscriptionStatus,
)
_OPERATION["responses"][200] = {
    "content": {"text/html": {"schema": {"type": "string"}, "example": "<!DOCTYPE html>…"}}
}


@router.get("/alerts/subscriptions/{token}", **_OPERATION)
async def subscription(
    request: Request, principal: Caller, conn: WriteConn, token: AnyToken
) -> Response:
    html = wants_html(request)
    found = await _find(request, conn, token, html)
    if isinstance(found, Response):
        return found
    if html:
        return page("subscription.html", _context(request, found))
    return Response(
        _status(found).model_dump_json(),
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Vary": "Accept"},
    )


@router.post("/alerts/subscriptions/{token}/unsubscribe", include_in_schema=False)
async def unsubscribe_form(
    request: Request, principal: Caller, conn: WriteConn, token: str
) -> Response:
    """The page's button (API clients ``DELETE`` the subscription instead)."""
    if not same_origin(request):
        raise ApiProblem("forbidden", "only the subscription's own page may post this form")
    found = await _find(request, conn, token, wants_html(request))
    if isinstance(found, Response):
        return found
    await store.unsubscribe(conn, found.subscription.token)
    return RedirectResponse(f"{BASE}/{found.subscription.token}?ended=1", status_code=303)
