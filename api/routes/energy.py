"""``/v1/energy``: home energy reports.

A household's reports (its comparisons with similar homes, month by month) go to its own
resident key only: officers and admins are refused (403, ``household-data``) and read the
reports summed per ward and month instead, k-anonymous (``analytics.zone_energy``), and the
trials' results. Another household's reports do not exist for a resident key (404).

``nudges`` and ``deliveries`` are closed to the reader role, so these routes read them on the
owner's connection (``WriteConn``) and publish only what the rules above allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from analytics.privacy import MIN_CONTRIBUTORS
from analytics.zone_energy import Aggregate, WardValue, publish, withheld_kind
from api.aggregates import disclosure
from api.auth import allow
from api.dates import IsoDate
from api.dependencies import WriteConn
from api.formats import FormatParam, Table
from api.models.common import ID_PATTERN
from api.models.energy import (
    ReportDetail,
    ReportPage,
    Statistics,
    TrialEffect,
    TrialList,
    TrialResult,
    WardStatistics,
)
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
from api.reports import detail, report
from api.representation import represent
from api.scopes import Principal, Scope
from storage import delivery as preferences
from storage import energy_reports, trials
from storage.energy_reports import WardReports
from storage.trials import PROGRAMME_AREA, StoredEffect

router = APIRouter(tags=["energy"])

DEFAULT_PROGRAMME = "home-energy-reports"
_HOUSEHOLD_ACCESS = (
    "A household's own resident key only: officers and admins are refused (403"
    " `household-data`; they read `/v1/energy/statistics`), another household's key gets 404."
)
HouseholdId = Annotated[
    str, Path(pattern=ID_PATTERN, description="A household's id", examples=["hh-0042"])
]
Programme = Annotated[
    str,
    Query(pattern=ID_PATTERN, description="An energy programme's id", examples=[DEFAULT_PROGRAMME]),
]
Month = Annotated[
    IsoDate | None,
    Query(
        description="A month, as its first day (any day stands for its month)",
        examples=["2026-10-01"],
    ),
]
_HouseholdCaller = Annotated[Principal, Depends(allow(Scope.RESIDENT, Scope.OFFICER, Scope.ADMIN))]
_StaffCaller = Annotated[Principal, Depends(allow(Scope.OFFICER, Scope.ADMIN))]
_REPORT_COLUMNS = (
    "programme_id",
    "period",
    "period_start",
    "period_end",
    "status",
    "rating",
    "usage_kwh",
    "average_kwh",
    "efficient_kwh",
    "peers",
    "withheld_reason",
    "computed_at",
)


def own_household(principal: Principal, household_id: str) -> None:
    """Refuse everyone but the household's own resident key (see the module)."""
    if principal.is_staff:
        raise ApiProblem(
            "household-data",
            "one household's reports go to its resident key only; read /v1/energy/statistics",
        )
    if not principal.owns_household(household_id):
        raise ApiProblem("not-found", f"no household {household_id!r}")


@router.get(
    "/energy/households/{household_id}/reports",
    **operation(
        summary="A household's energy reports",
        description="The household's comparisons with similar homes, newest period first: its"
        " use, similar homes' average and efficient use, the rating, or why a period had no"
        " comparison.",
        model=ReportPage,
        scopes=(Scope.RESIDENT,),
        access=_HOUSEHOLD_ACCESS,
        csv_example="programme_id,period,period_start,period_end,status,rating,usage_kwh,…\r\n"
        "home-energy-reports,October 2026,2026-10-01,2026-11-01,ready,good,241.8,…\r\n",
    ),
)
async def household_reports(
    request: Request,
    principal: _HouseholdCaller,
    conn: WriteConn,
    household_id: HouseholdId,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    own_household(principal, household_id)
    after = None
    if cursor:
        start, programme = decode_cursor(cursor, str, str)
        try:
            after = (date.fromisoformat(start), programme)
        except ValueError:
            raise ApiProblem("invalid-cursor") from None
    rows = await energy_reports.household_reports(conn, household_id, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_url = next_link(
        request,
        encode_cursor(last["period_start"].isoformat(), last["programme_id"])
        if more and last
        else None,
    )
    items = [report(r) for r in rows]
    body = ReportPage(household_id=household_id, items=items, links=Links(next=next_url))
    return represent(
        request,
        principal,
        body,
        format=format,
        headers=link_header(next_url),
        table=lambda: Table(
            _REPORT_COLUMNS, [[getattr(i, c) for c in _REPORT_COLUMNS] for i in items]
        ),
    )


@router.get(
    "/energy/households/{household_id}/reports/{period}",
    **operation(
        summary="One of a household's energy reports, in full",
        description="A period's report with its suggestions and insights, and `message`: the"
        " report in the words of the letter the household was sent.",
        model=ReportDetail,
        scopes=(Scope.RESIDENT,),
        access=_HOUSEHOLD_ACCESS,
    ),
)
async def household_report(
    request: Request,
    principal: _HouseholdCaller,
    conn: WriteConn,
    household_id: HouseholdId,
    period: Annotated[
        str,
        Path(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="The month", examples=["2026-10"]),
    ],
    programme: Annotated[
        str | None,
        Query(
            pattern=ID_PATTERN,
            description="The programme, when the household is in several",
            examples=[DEFAULT_PROGRAMME],
        ),
    ] = None,
) -> Response:
    own_household(principal, household_id)
    start = date.fromisoformat(period + "-01")
    rows = [
        r
        for r in await energy_reports.household_reports(conn, household_id, period_start=start)
        if programme is None or r["programme_id"] == programme
    ]
    if not rows:
        raise ApiProblem("not-found", f"no report for {period}")
    # The letter names the household's page; its token is made with its first report (here,
    # if the report was never delivered).
    chosen = await preferences.household_preferences(conn, [household_id])
    page = str(request.base_url).rstrip("/") + "/residents/" + chosen[household_id].token
    return represent(request, principal, detail(rows[-1], page_url=page))


def _months(start: date | None, end: date | None) -> tuple[date, date]:
    """``[start, end)`` as month starts; by default the twelve months before this one."""
    this_month = datetime.now(UTC).date().replace(day=1)
    last = _first(end) if end is not None else this_month
    first = _first(start) if start is not None else last.replace(year=last.year - 1)
    if first >= last:
        raise ApiProblem("bad-request", "`start` must be a month before `end`")
    if (last.year - first.year) * 12 + last.month - first.month > 120:
        raise ApiProblem("bad-request", "at most ten years at a time")
    return first, last


def _first(day: date) -> date:
    return day.replace(day=1)


def _row(
    aggregate: Aggregate, reports: Sequence[WardReports], *, zone_id: str | None
) -> WardStatistics:
    """One ward's row (``reports`` its one), or a month's over every ward (all of them)."""
    if aggregate.withheld is not None:
        return WardStatistics(
            month=aggregate.month,
            zone_id=zone_id,
            households=None,
            compared=None,
            delivered=None,
            withheld=None,
            usage_kwh_total=None,
            usage_kwh_mean=None,
            suppressed=aggregate.withheld,
        )
    kinds: dict[str, int] = {}
    for r in reports:
        for text, n in r.withheld.items():
            kind = withheld_kind(text)
            kinds[kind] = kinds.get(kind, 0) + n
    return WardStatistics(
        month=aggregate.month,
        zone_id=zone_id,
        households=sum(r.households for r in reports),
        compared=sum(r.compared for r in reports),
        delivered=sum(r.delivered for r in reports),
        withheld=dict(sorted(kinds.items())),
        usage_kwh_total=aggregate.total,
        usage_kwh_mean=aggregate.mean,
        suppressed=None,
    )


_STAT_COLUMNS = (
    "month",
    "zone_id",
    "households",
    "compared",
    "delivered",
    "withheld",
    "usage_kwh_total",
    "usage_kwh_mean",
    "suppressed",
)


@router.get(
    "/energy/statistics",
    **operation(
        summary="Energy reports per ward and month",
        description="A programme's reports summed per ward and month of their period: how many"
        " households had one, were compared and were sent it, why the others were not"
        " compared, and their use. k-anonymous: a ward's figures are withheld under 10"
        " households with a measured use, or when one household holds more than half of the"
        " ward's use; a month's `totals` whenever one of its wards is withheld (`suppressed`"
        " says why). Months `[start, end)`, by default the last twelve; at most ten years.",
        model=Statistics,
        scopes=(Scope.OFFICER, Scope.ADMIN),
        csv_example="month,zone_id,households,compared,delivered,withheld,usage_kwh_total,…\r\n"
        "2026-10-01,ward-camden-town,412,398,371,few_similar_homes=9;missing_readings=5,"
        "101264.2,…\r\n",
    ),
)
async def statistics(
    request: Request,
    principal: _StaffCaller,
    conn: WriteConn,
    programme: Programme = DEFAULT_PROGRAMME,
    start: Month = None,
    end: Month = None,
    format: FormatParam = None,
) -> Response:
    first, last = _months(start, end)
    rows = await energy_reports.ward_reports(conn, programme, start=first, end=last)
    wards, totals = publish(
        [
            WardValue(r.month, r.ward, r.usage.contributors, r.usage.total, r.usage.largest)
            for r in rows
        ]
    )
    items = [_row(a, [r], zone_id=r.ward) for r, a in zip(rows, wards, strict=True)]
    month_rows = [_row(t, [r for r in rows if r.month == t.month], zone_id=None) for t in totals]
    body = Statistics(
        programme_id=programme, disclosure=disclosure(), items=items, totals=month_rows
    )

    def cell(row: WardStatistics, column: str) -> object:
        value = getattr(row, column)
        if column == "withheld" and value is not None:
            return ";".join(f"{k}={n}" for k, n in value.items())
        return value

    return represent(
        request,
        principal,
        body,
        format=format,
        table=lambda: Table(
            _STAT_COLUMNS, [[cell(r, c) for c in _STAT_COLUMNS] for r in [*items, *month_rows]]
        ),
    )


def _effect(stored: StoredEffect | None, area: str) -> TrialEffect:
    name = "programme" if area == PROGRAMME_AREA else area
    if stored is None or not stored.estimated:
        return TrialEffect(
            area=name,
            relative=None,
            relative_ci=None,
            absolute_kwh=None,
            absolute_ci_kwh=None,
            p_value=None,
            treated=None,
            control=None,
            excluded=None,
            confidence=None,
            withheld="too_few_households",
        )
    small = min(stored.treated or 0, stored.control or 0) < MIN_CONTRIBUTORS
    return TrialEffect(
        area=name,
        relative=None if small else stored.relative,
        relative_ci=None if small or stored.relative_ci is None else list(stored.relative_ci),
        absolute_kwh=None if small else stored.absolute,
        absolute_ci_kwh=None if small or stored.absolute_ci is None else list(stored.absolute_ci),
        p_value=None if small else stored.p_value,
        treated=stored.treated,
        control=stored.control,
        excluded=stored.excluded,
        confidence=stored.confidence,
        withheld="few_contributors" if small else None,
    )


_TRIAL_COLUMNS = (
    "programme_id",
    "pre_start",
    "pre_end",
    "post_start",
    "post_end",
    "area",
    "relative",
    "relative_low",
    "relative_high",
    "absolute_kwh",
    "absolute_low_kwh",
    "absolute_high_kwh",
    "p_value",
    "treated",
    "control",
    "excluded",
    "withheld",
)


def _trial_rows(result: TrialResult) -> list[list[object]]:
    rows: list[list[object]] = []
    for e in (result.programme, *result.zones):
        none: list[float | None] = [None, None]
        rel = list(e.relative_ci) if e.relative_ci else none
        ab = list(e.absolute_ci_kwh) if e.absolute_ci_kwh else none
        rows.append(
            [
                result.programme_id,
                result.pre_start,
                result.pre_end,
                result.post_start,
                result.post_end,
                e.area,
                e.relative,
                rel[0],
                rel[1],
                e.absolute_kwh,
                ab[0],
                ab[1],
                e.p_value,
                e.treated,
                e.control,
                e.excluded,
                e.withheld,
            ]
        )
    return rows


@router.get(
    "/energy/trials",
    **operation(
        summary="Trial results",
        description="The effect of the reports on use, as `civicpulse analytics trial"
        " estimate` estimated it (difference in differences of weather-normalised use, with"
        " its confidence interval): for the programme and per zone. A zone with fewer than 10"
        " households in an arm shows its counts only.",
        model=TrialList,
        scopes=(Scope.OFFICER, Scope.ADMIN),
        csv_example="programme_id,pre_start,pre_end,post_start,post_end,area,relative,…\r\n"
        "home-energy-reports,2026-01-01,2026-02-01,2026-10-01,2026-11-01,programme,-0.021,…\r\n",
    ),
)
async def trial_results(
    request: Request,
    principal: _StaffCaller,
    conn: WriteConn,
    programme: Annotated[
        str | None,
        Query(
            pattern=ID_PATTERN, description="Only this programme's", examples=[DEFAULT_PROGRAMME]
        ),
    ] = None,
    format: FormatParam = None,
) -> Response:
    items = []
    for found in await trials.estimates(conn, programme):
        effects = {e.area: e for e in found.effects}
        items.append(
            TrialResult(
                programme_id=found.programme_id,
                pre_start=found.pre[0],
                pre_end=found.pre[1],
                post_start=found.post[0],
                post_end=found.post[1],
                households=found.households,
                estimated_at=found.estimated_at,
                programme=_effect(effects.get(PROGRAMME_AREA), PROGRAMME_AREA),
                zones=[_effect(e, a) for a, e in effects.items() if a != PROGRAMME_AREA],
            )
        )
    return represent(
        request,
        principal,
        TrialList(items=items),
        format=format,
        table=lambda: Table(_TRIAL_COLUMNS, [row for r in items for row in _trial_rows(r)]),
    )
