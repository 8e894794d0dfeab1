"""``/v1/alerts``: alerts with filters and pages, one alert with its audit trail, and
acknowledging one (officers).

Alerts about a device in a home (a meter gone offline) are staff's business: other callers do
not see them. Who acknowledged an alert, and who did what in its trail, is shown to staff only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime

from alerts.lifecycle import acknowledge
from api.auth import allow
from api.dependencies import Caller, ReadConn, WriteConn
from api.formats import FormatParam, Table
from api.models.alerts import Alert, AlertDetail, AlertEvent, AlertPage
from api.models.common import ID_PATTERN
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
from devices.model import DeviceType
from storage import alerts as store
from storage import registry
from storage.alerts import AlertRecord
from storage.connection import Conn

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="An alert id", examples=[4211])]
_SCANS = 5
"""At most this many storage pages are read to fill one page of visible alerts."""


def _alert(record: AlertRecord, kinds: Mapping[str, str], staff: bool) -> dict[str, Any]:
    assert record.alert_id is not None
    return {
        "alert_id": record.alert_id,
        "rule_id": record.rule_id,
        "kind": kinds.get(record.rule_id),
        "subject": record.subject,
        "state": record.state,
        "level": record.level,
        "value": record.value,
        "message": record.message,
        "zone_id": record.zone_id,
        "opened_at": record.opened_at,
        "updated_at": record.updated_at,
        "acknowledged_at": record.acknowledged_at,
        "acknowledged_by": record.acknowledged_by if staff else None,
        "escalated_at": record.escalated_at,
        "resolved_at": record.resolved_at,
    }


async def _in_homes(
    conn: Conn, records: Sequence[AlertRecord], types: Mapping[str, DeviceType]
) -> set[str]:
    """Subjects of ``records`` that are devices in homes (or of a type no plugin describes)."""
    found = await registry.device_types(conn, sorted({r.subject for r in records}))
    return {d for d, t in found if t not in types or types[t].personal}


async def _visible(
    conn: Conn, principal: Principal, records: list[AlertRecord], types: Mapping[str, DeviceType]
) -> list[AlertRecord]:
    if principal.is_staff or not records:
        return records
    hidden = await _in_homes(conn, records, types)
    return [r for r in records if r.subject not in hidden]


async def _kinds(conn: Conn) -> dict[str, str]:
    return {rule.rule_id: rule.kind for rule in await store.rules(conn)}


_ALERT_COLUMNS = tuple(Alert.model_fields)


@router.get(
    "/alerts",
    **operation(
        summary="Alerts, newest first",
        description="Alerts (air quality in a zone, a bay overstayed, a device offline, a"
        " sensor flagged), newest first, a page at a time; filter by zone, state and opening"
        " time.",
        model=AlertPage,
        access="Alerts about devices in homes are shown to officers and admins only.",
        csv_example="alert_id,rule_id,kind,subject,state,level,value,message,zone_id,opened_at"
        ",…\r\n4211,zone-daqi,zone_daqi,ward-camden-town,open,high,7.0,Air quality in Camden"
        " Town is high (DAQI 7),ward-camden-town,2026-11-25T07:40:00+00:00,…\r\n",
    ),
)
async def list_alerts(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    zone: Annotated[
        str | None,
        Query(
            pattern=ID_PATTERN, description="Only this zone's alerts", examples=["ward-camden-town"]
        ),
    ] = None,
    state: Annotated[
        Literal["open", "acknowledged", "resolved"] | None,
        Query(description="Only alerts in this state", examples=["open"]),
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(
            description="Only alerts opened at or after this time",
            examples=["2026-11-25T00:00:00+00:00"],
        ),
    ] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    types = runtime(request).types
    before: int | None = decode_cursor(cursor, int)[0] if cursor else None
    shown: list[AlertRecord] = []
    exhausted = False
    for _ in range(_SCANS):
        batch = await store.list_alerts(
            conn, zone_id=zone, state=state, since=since, before_id=before, limit=limit + 1
        )
        shown += await _visible(conn, principal, batch, types)
        if len(batch) <= limit:  # fewer than asked for: nothing older is left
            exhausted = True
            break
        before = batch[-1].alert_id
        if len(shown) > limit:
            break
    page = shown[:limit]
    # Go on after the last alert shown, or (a page thinned by hidden alerts) the last read.
    resume = page[-1].alert_id if len(shown) > limit else None if exhausted else before
    next_url = next_link(request, None if resume is None else encode_cursor(resume))
    kinds = await _kinds(conn)
    items = [Alert.model_validate(_alert(r, kinds, principal.is_staff)) for r in page]
    body = AlertPage(items=items, links=Links(next=next_url))
    return represent(
        request,
        principal,
        body,
        format=format,
        headers=link_header(next_url),
        table=lambda: Table(
            _ALERT_COLUMNS, [tuple(getattr(a, c) for c in _ALERT_COLUMNS) for a in items]
        ),
    )


@router.get(
    "/alerts/{alert_id}",
    **operation(
        summary="One alert and its audit trail",
        description="An alert and every change to it (opened, updated, escalated,"
        " acknowledged, resolved, notified), oldest first.",
        model=AlertDetail,
        access="Who did what is shown to officers and admins only; alerts about devices in"
        " homes exist for them only.",
    ),
)
async def get_alert(
    request: Request, principal: Caller, conn: ReadConn, alert_id: AlertId
) -> Response:
    record = await store.get_alert(conn, alert_id)
    visible = (
        [] if record is None else await _visible(conn, principal, [record], runtime(request).types)
    )
    if record is None or not visible:
        raise ApiProblem("not-found", f"no alert {alert_id}")
    staff = principal.is_staff
    history = [
        AlertEvent(
            at=at,
            action=action,
            actor=actor if staff else None,
            detail=detail
            if staff
            else {k: v for k, v in detail.items() if k in ("level", "value")},
        )
        for at, action, actor, detail in await store.events(conn, alert_id)
    ]
    body = AlertDetail.model_validate(
        {**_alert(record, await _kinds(conn), staff), "history": history}
    )
    return represent(request, principal, body)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    **operation(
        summary="Acknowledge an alert",
        description="An officer takes the alert on: its escalation stops, and the audit trail"
        " records who and when. The alert stays until its condition clears. Acknowledging an"
        " acknowledged alert changes nothing; a resolved one cannot be (409).",
        model=Alert,
        scopes=(Scope.OFFICER, Scope.ADMIN),
        errors={409: "The alert is resolved"},
    ),
)
async def acknowledge_alert(
    principal: Annotated[Principal, Depends(allow(Scope.OFFICER, Scope.ADMIN))],
    conn: WriteConn,
    alert_id: AlertId,
) -> Response:
    record = await store.get_alert(conn, alert_id)
    if record is None:
        raise ApiProblem("not-found", f"no alert {alert_id}")
    if record.state == "resolved":
        raise ApiProblem("conflict", f"alert {alert_id} is already resolved")
    if record.state != "acknowledged":
        step = acknowledge(record, by=principal.actor, now=datetime.now(UTC))
        record = await store.save(conn, step.alert, "acknowledged", principal.actor)
    body = Alert.model_validate(_alert(record, await _kinds(conn), staff=True))
    return Response(
        body.model_dump_json(),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
