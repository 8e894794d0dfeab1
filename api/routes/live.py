"""Live updates as Server-Sent Events: a zone's parking availability, and a zone's alerts.

Both are driven by the process's hub (:mod:`api.live`), which listens to the change feed and the
alert feed once and fans events out; a stream itself reads nothing until a client reconnects
after a gap. This router carries the hub's lifespan, so ``create_app`` starts and stops it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from api import live
from api.dependencies import Caller
from api.live import sse
from api.live.stream import alert_stream, parking_stream
from api.lookup import ZoneId
from api.models.alerts import Alert
from api.operations import operation
from api.problems import ApiProblem
from api.routes.alerts import _alert
from api.runtime import runtime
from storage import alerts as alert_store
from storage.alerts import AlertRecord

router = APIRouter(tags=["live"], lifespan=live.lifespan)


class EventStream(StreamingResponse):
    media_type = sse.MEDIA_TYPE


LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="The `id` of the last event received; browsers' `EventSource` sends it"
        " when it reconnects",
        examples=["5f2c9a01-42"],
    ),
]
_EVENTS = """\
**Events** (`text/event-stream`; each has an `id` to resume from, and its `data` is JSON):
"""


def _stream(summary: str, description: str, example: str) -> dict[str, Any]:
    kwargs = operation(summary=summary, description=description, model=None)
    kwargs["response_class"] = EventStream
    kwargs["responses"][200] = {
        "description": "A stream of events; `: keep-alive` comment lines while nothing happens",
        "content": {sse.MEDIA_TYPE: {"schema": {"type": "string"}, "example": example}},
    }
    kwargs["responses"][503] = {
        "description": "Live data is catching up, or this server streams to as many clients as"
        " it may",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    return kwargs


def _full(hub: live.Hub) -> None:
    if hub.streams >= hub.config.max_streams:
        raise ApiProblem(
            "unavailable",
            "this server streams to as many clients as it may; try another or retry",
            headers={"Retry-After": "30"},
        )


@router.get(
    "/parking/zones/{zone_id}/availability/stream",
    **_stream(
        "A zone's parking availability as it changes (Server-Sent Events)",
        "A `reset` event with the zone's counts now (free, occupied, unknown, closed, total),"
        " then an `availability` event each time they change: within about a second of ingest"
        " committing a bay's reading, or when a bay goes `unknown` because its heartbeat is"
        " missed. Reconnect with `Last-Event-ID` to get the events you missed; when the server"
        " no longer has them (another server process, a restart, or changes it could not"
        " follow) you get a `reset` with the counts as they are.\n\n" + _EVENTS + "`reset`,"
        " `availability`: `{zone_id, free, occupied, unknown, closed, total, changed_at}`.",
        'retry: 3000\n\nid: 5f2c9a01-41\nevent: reset\ndata: {"zone_id":"cpz-ca-c","free":41,'
        '"occupied":162,"unknown":3,"closed":0,"total":206,"changed_at":'
        '"2026-11-25T08:14:03+00:00"}\n\nid: 5f2c9a01-42\nevent: availability\ndata: {"zone_id":'
        '"cpz-ca-c","free":40,"occupied":163,"unknown":3,"closed":0,"total":206,"changed_at":'
        '"2026-11-25T08:15:11+00:00"}\n\n: keep-alive\n\n',
    ),
)
async def parking_availability_stream(
    request: Request, principal: Caller, zone_id: ZoneId, last_event_id: LastEventId = None
) -> StreamingResponse:
    hub = await live.ready_hub(request)
    if zone_id not in hub.board.zones:
        raise ApiProblem("not-found", f"no zone {zone_id!r}")
    _full(hub)
    return EventStream(
        parking_stream(hub, zone_id, sse.last_event_id(last_event_id)), headers=sse.HEADERS
    )


@router.get(
    "/alerts/zones/{zone_id}/stream",
    **_stream(
        "A zone's alerts as they happen (Server-Sent Events)",
        "A `reset` event with the zone's unresolved alerts, then an `alert` event for each"
        " change to one of its alerts (opened, updated, escalated, acknowledged, resolved) as"
        " it is recorded. Event ids are the alerts' audit-trail ids, the same on every server:"
        " reconnect with `Last-Event-ID` to get every event you missed (a `reset` instead when"
        " you missed more than 200).\n\n" + _EVENTS + "`reset`: `{zone_id, alerts: [alert, …]}`;"
        " `alert`: `{event_id, action, at, alert}`, the alert as `/v1/alerts/{alert_id}` shows"
        " it to you.",
        'retry: 3000\n\nid: 9120\nevent: reset\ndata: {"zone_id":"ward-camden-town","alerts":[]}'
        '\n\nid: 9121\nevent: alert\ndata: {"event_id":9121,"action":"opened","at":'
        '"2026-11-25T07:40:00+00:00","alert":{"alert_id":4211,"rule_id":"zone-daqi","kind":'
        '"zone_daqi","subject":"ward-camden-town","state":"open","level":"high","value":7.0,'
        '"message":"Air quality in Camden Town is high (DAQI 7)","zone_id":"ward-camden-town",'
        '"opened_at":"2026-11-25T07:40:00+00:00","updated_at":"2026-11-25T07:40:00+00:00",'
        '"acknowledged_at":null,"acknowledged_by":null,"escalated_at":null,"resolved_at":null}}'
        "\n\n",
    ),
)
async def zone_alert_stream(
    request: Request, principal: Caller, zone_id: ZoneId, last_event_id: LastEventId = None
) -> StreamingResponse:
    hub = await live.ready_hub(request)
    if zone_id not in hub.board.zones:
        # Alerts may name zones the registry does not hold (a bay's parking zone).
        async with runtime(request).read() as conn:
            if not await alert_store.list_alerts(conn, zone_id=zone_id, limit=1):
                raise ApiProblem("not-found", f"no zone {zone_id!r}")
    _full(hub)
    staff = principal.is_staff

    def render(record: AlertRecord) -> dict[str, Any]:
        return Alert.model_validate(_alert(record, hub.kinds, staff)).model_dump(mode="json")

    resume = sse.last_event_id(last_event_id)
    after = int(resume) if resume is not None and resume.isdigit() and len(resume) <= 18 else None
    return EventStream(
        alert_stream(
            hub, runtime(request).read, zone_id, last_id=after, staff=staff, render=render
        ),
        headers=sse.HEADERS,
    )
