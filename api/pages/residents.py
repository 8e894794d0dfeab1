"""``/residents/{token}``: a household's energy page, reached by the link in its reports.

What the letter says (the same words, from ``delivery.nudges``), with a chart and a table of the
figures, the household's earlier reports, how the comparison is made, what its meter shares and
how to change that, and forms to choose how reports come or to stop them. No scripts; forms post
back here (same-origin only) and answer with a redirect to the page, which says what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.dependencies import WriteConn
from api.pages import forms, links
from api.pages.chart import comparison_chart
from api.pages.letter import parse
from api.pages.render import page, same_origin
from api.reports import letter, period_label
from api.runtime import runtime
from storage import delivery, energy_reports
from storage import links as stored
from storage.connection import Conn
from storage.delivery import HouseholdPreferences

router = APIRouter(include_in_schema=False)

HISTORY = 24
"""Reports listed on the page (two years of months)."""
SAVED = {
    "choices": "Your choices are saved.",
    "unsubscribed": "You will get no more energy reports. You can start them again below.",
    "resubscribed": "Your energy reports will start again with the next one.",
}
CONSENT = {
    "half_hourly": "a reading every half hour",
    "daily": "one reading a day",
    "monthly": "one reading a month",
}


def _council(request: Request) -> dict[str, str]:
    config = runtime(request).config
    return {"council_name": config.council_name, "council_contact": config.council_contact}


async def _household(request: Request, conn: Conn, token: str) -> HouseholdPreferences | Response:
    """The token's household, or the page to answer instead. (An address that keeps trying
    unknown links is held back before this, by the caller's check of its failures' bucket.)"""
    found = await stored.household_by_token(conn, token) if links.well_formed(token) else None
    if found is None:
        links.failed(request)
        return page("resident_missing.html", _council(request), status=404)
    return found


def _report(row: Mapping[str, Any], page_url: str) -> dict[str, Any]:
    text = letter(row, page_url=page_url)
    if text is None:
        return {
            "ready": False,
            "period": period_label(row),
            "reason": row["withheld_reason"] or "we could not compare your home this time",
        }
    chart = comparison_chart(
        usage=row["usage_kwh"], average=row["average_kwh"], efficient=row["efficient_kwh"]
    )
    return {"ready": True, "letter": parse(text), "chart": chart, "peers": row["peers"]}


async def _render(
    request: Request,
    conn: Conn,
    household: HouseholdPreferences,
    *,
    saved: str | None = None,
    checked: forms.Checked | None = None,
    status: int = 200,
) -> Response:
    page_url = str(request.url.replace(query=None, fragment=None))
    page_url = page_url.rsplit("/residents/", 1)[0] + "/residents/" + household.token
    rows = await energy_reports.household_reports(conn, household.household_id, limit=HISTORY)
    meters = await energy_reports.household_consent(conn, household.household_id)
    values: dict[str, Any] = {
        "channels": list(household.channels),
        "quiet_start": ""
        if household.quiet_start is None
        else household.quiet_start.strftime("%H:%M"),
        "quiet_end": "" if household.quiet_end is None else household.quiet_end.strftime("%H:%M"),
        "max_per_week": str(household.max_per_week),
    }
    if checked is not None:
        values.update(checked.values)
    context = {
        **_council(request),
        "token": household.token,
        "page_url": page_url,
        "report": _report(rows[0], page_url) if rows else None,
        "history": [
            {
                "period": period_label(r),
                "status": r["status"],
                "rating": r["rating"],
                "usage": r["usage_kwh"],
                "average": r["average_kwh"],
                "efficient": r["efficient_kwh"],
            }
            for r in rows
        ],
        "consent": [CONSENT.get(level or "", "") for _, level in meters],
        "unsubscribed": household.unsubscribed_at is not None,
        "saved": SAVED.get(saved or ""),
        "errors": {} if checked is None else checked.errors,
        "values": values,
        "channel_names": forms.CHANNEL_NAMES,
        "caps": list(forms.MAX_PER_WEEK),
    }
    return page("resident.html", context, status=status)


@router.get("/residents/{token}")
async def resident_page(
    request: Request, conn: WriteConn, token: str, saved: str | None = None
) -> Response:
    found = await _household(request, conn, token)
    if isinstance(found, Response):
        return found
    return await _render(request, conn, found, saved=saved)


def _refused(request: Request) -> Response:
    return page("forbidden.html", _council(request), status=403)


@router.post("/residents/{token}/choices")
async def save_choices(request: Request, conn: WriteConn, token: str) -> Response:
    if not same_origin(request):
        return _refused(request)
    found = await _household(request, conn, token)
    if isinstance(found, Response):
        return found
    checked = forms.check(forms.fields(await request.body()))
    if checked.choices is None:
        return await _render(request, conn, found, checked=checked, status=400)
    choices = checked.choices
    await delivery.set_preferences(
        conn,
        found.household_id,
        channels=choices.channels,
        quiet=choices.quiet,
        max_per_week=choices.max_per_week,
    )
    if choices.quiet is None:
        await stored.clear_quiet_hours(conn, found.household_id)
    return RedirectResponse(f"/residents/{token}?saved=choices#choices", status_code=303)


@router.post("/residents/{token}/subscription")
async def change_subscription(request: Request, conn: WriteConn, token: str) -> Response:
    if not same_origin(request):
        return _refused(request)
    found = await _household(request, conn, token)
    if isinstance(found, Response):
        return found
    action = (forms.fields(await request.body()).get("action") or [""])[0]
    if action not in ("unsubscribe", "resubscribe"):
        return _refused(request)
    await delivery.set_preferences(conn, found.household_id, unsubscribed=action == "unsubscribe")
    saved = "unsubscribed" if action == "unsubscribe" else "resubscribed"
    return RedirectResponse(f"/residents/{token}?saved={saved}#reports", status_code=303)
