"""``/v1/open-data``: the open data catalogue and its datasets, without a key.

The catalogue is DCAT in JSON-LD (a page for browsers); each dataset is JSON or CSV
(``?format=csv``), a time window at a time (``links.next`` continues). Household energy is
published per ward and month only, k-anonymous (``analytics.zone_energy``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from analytics.air_quality.pollutants import POLLUTANTS
from analytics.zone_daqi_history import MAX_DAYS, zone_daqi_history
from analytics.zone_energy import WardValue, publish
from api.aggregates import disclosure
from api.catalogue import DATASETS, SPECS, Coverage, catalogue
from api.dates import IsoDate
from api.dependencies import Caller, ReadConn
from api.formats import FormatParam, Table
from api.models.common import ID_PATTERN
from api.models.open_data import (
    OGL,
    AirQualityHours,
    Catalogue,
    EnergyMonth,
    EnergyMonths,
    MonitorHour,
    ParkingHours,
    ZoneDaqiDays,
    ZoneDay,
    ZoneHour,
)
from api.operations import operation
from api.pages.render import page, wants_html
from api.pagination import Cursor, Links, decode_cursor, encode_cursor, link_header, next_link
from api.problems import ApiProblem
from api.representation import represent
from api.runtime import runtime
from api.timerange import End, Start, resolve, window
from devices.types import AIR_QUALITY, PARKING_BAY, SMART_METER
from storage import coverage, energy_reports, readings
from storage.connection import Conn
from storage.readings import Selection

router = APIRouter(tags=["open data"])

LD_JSON = "application/ld+json"
HOURS_WINDOW = timedelta(days=7)
"""One answer of an hourly dataset covers at most a week; ``links.next`` continues."""
DEFAULT_HOURS = timedelta(days=1)
_NO_KEY = "Open data: no key needed (a key is accepted, and its own rate limit applies)."
ZoneParam = Annotated[
    str | None,
    Query(pattern=ID_PATTERN, description="Only this zone", examples=["ward-camden-town"]),
]


class JsonLdResponse(JSONResponse):
    media_type = LD_JSON


def _catalogue_operation() -> dict[str, Any]:
    kwargs = operation(
        summary="The open data catalogue",
        description="Every open dataset, described in DCAT terms (JSON-LD): title, description,"
        " publisher, licence (Open Government Licence v3.0), the days and area it covers, how"
        " often it grows, its columns, and where to download it as CSV or JSON. Browsers"
        " (`Accept: text/html`, or `?format=html`) get it as a page.",
        model=Catalogue,
        access=_NO_KEY,
    )
    kwargs["response_class"] = JsonLdResponse
    ref = {"schema": {"$ref": "#/components/schemas/Catalogue"}}
    kwargs["responses"][200] = {
        "content": {
            "application/json": ref,
            "text/html": {"schema": {"type": "string"}, "example": "<!DOCTYPE html>…"},
        }
    }
    return kwargs


async def _coverage(conn: Conn) -> dict[str, Coverage]:
    def iso(found: tuple[date, date] | None) -> tuple[str, str] | None:
        return None if found is None else (found[0].isoformat(), found[1].isoformat())

    aq = iso(await coverage.data_days(conn, AIR_QUALITY))
    aq_zones = len(await coverage.zones_with(conn, AIR_QUALITY.name))
    return {
        "air-quality-hourly": Coverage(aq, aq_zones),
        "zone-daqi": Coverage(aq, aq_zones),
        "parking-occupancy": Coverage(
            iso(await coverage.data_days(conn, PARKING_BAY)),
            len(await coverage.zones_with(conn, PARKING_BAY.name)),
        ),
        "energy-monthly": Coverage(
            iso(await coverage.data_days(conn, SMART_METER)),
            len(await coverage.zones_with(conn, SMART_METER.name, kinds=("ward",))),
        ),
    }


@router.get("/open-data", **_catalogue_operation())
async def open_data(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    format: Annotated[
        Literal["json", "html"] | None,
        Query(
            alias="format", description="`html` for the page; default JSON-LD", examples=["html"]
        ),
    ] = None,
) -> Response:
    html = format == "html" or (format is None and wants_html(request, json_type=LD_JSON))
    body = catalogue(
        str(request.base_url).rstrip("/"),
        publisher=runtime(request).config.council_name,
        bbox=await coverage.extent(conn),
        coverage=await _coverage(conn),
    )
    if html:
        context = {"council_name": runtime(request).config.council_name, "catalogue": body}
        return page("open_data.html", context, private=False)
    return represent(request, principal, body, format="json" if format else None, json_type=LD_JSON)


def _hours(
    request: Request, start: datetime | None, end: datetime | None, cursor: str | None
) -> tuple[datetime, datetime, datetime | None]:
    """This answer's ``[first, stop)`` within ``[start, end)``, and where the next begins."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start, end = resolve(start, end, now=now, span=DEFAULT_HOURS)
    first = start
    if cursor:
        (first,) = decode_cursor(cursor, datetime)
        if not start <= first < end:
            raise ApiProblem("invalid-cursor")
    stop, following = window(first, end, HOURS_WINDOW)
    return first, stop, following


def _mean(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _rows(items: Sequence[Any], columns: Sequence[str]) -> list[list[object]]:
    return [[getattr(item, c) for c in columns] for item in items]


def _paged(
    request: Request,
    principal: Any,
    model: Callable[..., Any],
    dataset: str,
    window: tuple[Any, Any, Any],
    items: Sequence[Any],
    format: Any,
) -> Response:
    """A page of a time-windowed dataset: JSON (with its next link) or CSV of ``items``."""
    first, stop, following = window
    next_url = next_link(request, None if following is None else encode_cursor(following))
    body = model(
        dataset=dataset, license=OGL, start=first, end=stop, items=items, links=Links(next=next_url)
    )
    columns = [c.name for c in SPECS[dataset].columns]
    return represent(
        request,
        principal,
        body,
        format=format,
        headers=link_header(next_url),
        table=lambda: Table(tuple(columns), _rows(items, columns)),
    )


@router.get(
    "/open-data/air-quality-hourly",
    **operation(
        summary="Open data: air quality, hourly means per monitor",
        description=SPECS["air-quality-hourly"].description + " Hours starting in"
        " `[start, end)` (default: the last day), at most a week per answer.",
        model=AirQualityHours,
        access=_NO_KEY,
        csv_example="monitor_id,hour,readings,pm25,pm10,no2,o3,so2\r\n"
        "aq-camden-001,2026-11-25T08:00:00+00:00,12,11.2,18.4,38.9,,\r\n",
    ),
)
async def air_quality_hourly(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    start: Start = None,
    end: End = None,
    monitor: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="Only this monitor", examples=["aq-camden-001"]),
    ] = None,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    first, stop, following = _hours(request, start, end, cursor)
    rows = await readings.rollups(
        conn,
        AIR_QUALITY,
        "hourly",
        start=first,
        end=stop,
        selection=Selection(device_ids=None if monitor is None else [monitor]),
        fields=list(POLLUTANTS),
    )
    items = [
        MonitorHour(
            monitor_id=r.device_id,
            hour=r.bucket,
            readings=r.samples,
            **{p: _mean(r.stats[p].avg) for p in POLLUTANTS},
        )
        for r in rows
    ]
    return _paged(
        request,
        principal,
        AirQualityHours,
        "air-quality-hourly",
        (first, stop, following),
        items,
        format,
    )


@router.get(
    "/open-data/parking-occupancy",
    **operation(
        summary="Open data: parking occupancy per zone and hour",
        description=SPECS["parking-occupancy"].description + " Hours starting in"
        " `[start, end)` (default: the last day), at most a week per answer.",
        model=ParkingHours,
        access=_NO_KEY,
        csv_example="zone_id,hour,bays,reports,occupied_share\r\n"
        "pz-camden-ca-f,2026-11-25T08:00:00+00:00,46,190,0.83\r\n",
    ),
)
async def parking_occupancy(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    start: Start = None,
    end: End = None,
    zone: ZoneParam = None,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    first, stop, following = _hours(request, start, end, cursor)
    zones = await coverage.zones_with(conn, PARKING_BAY.name)
    items = []
    for zone_id in zones if zone is None else [z for z in zones if z == zone]:
        for r in await readings.zone_rollups(
            conn, PARKING_BAY, "hourly", zone=zone_id, start=first, end=stop, fields=["occupied"]
        ):
            share = r.stats["occupied"].avg
            items.append(
                ZoneHour(
                    zone_id=zone_id,
                    hour=r.bucket,
                    bays=r.devices,
                    reports=r.stats["occupied"].n,
                    occupied_share=None if share is None else round(share, 3),
                )
            )
    return _paged(
        request,
        principal,
        ParkingHours,
        "parking-occupancy",
        (first, stop, following),
        items,
        format,
    )


DayParam = Annotated[
    IsoDate | None, Query(description="A local day (YYYY-MM-DD)", examples=["2026-11-18"])
]


@router.get(
    "/open-data/zone-daqi",
    **operation(
        summary="Open data: Daily Air Quality Index by zone",
        description=SPECS["zone-daqi"].description + " Days in `[start, end)` (default: the"
        f" last seven), at most {MAX_DAYS} per answer; zones holding an air-quality monitor.",
        model=ZoneDaqiDays,
        access=_NO_KEY,
        csv_example="zone_id,day,index,band,pollutant,monitor_id,monitors\r\n"
        "ward-camden-town,2026-11-24,4,Moderate,pm25,aq-camden-001,3\r\n",
    ),
)
async def zone_daqi(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    start: DayParam = None,
    end: DayParam = None,
    zone: ZoneParam = None,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    today = datetime.now(UTC).date()
    last = end or today
    begin = start or last - timedelta(days=7)
    if begin >= last:
        raise ApiProblem("bad-request", "`start` must be before `end`")
    first = begin
    if cursor:
        (text,) = decode_cursor(cursor, str)
        try:
            first = date.fromisoformat(text)
        except ValueError:
            raise ApiProblem("invalid-cursor") from None
        if not begin <= first < last:
            raise ApiProblem("invalid-cursor")
    stop = min(last, first + timedelta(days=MAX_DAYS))
    zones = await coverage.zones_with(conn, AIR_QUALITY.name)
    items = []
    for zone_id in zones if zone is None else [z for z in zones if z == zone]:
        days = await zone_daqi_history(conn, zone_id, first=first, last=stop - timedelta(days=1))
        items += [
            ZoneDay(
                zone_id=d.zone_id,
                day=d.day,
                index=d.index,
                band=d.band,
                pollutant=d.pollutant,
                monitor_id=d.monitor_id,
                monitors=d.monitors,
            )
            for d in days
        ]
    following = stop.isoformat() if stop < last else None
    return _paged(
        request, principal, ZoneDaqiDays, "zone-daqi", (first, stop, following), items, format
    )


MonthParam = Annotated[
    IsoDate | None,
    Query(
        description="A month, as its first day (any day stands for its month)",
        examples=["2025-11-01"],
    ),
]
_MEASURES = {"electricity_import_kwh": "electricity_kwh", "gas_m3": "gas_m3"}


@router.get(
    "/open-data/energy-monthly",
    **operation(
        summary="Open data: household energy per ward and month",
        description=SPECS["energy-monthly"].description + " Months in `[start, end)`, by"
        " default the last twelve complete ones; at most ten years.",
        model=EnergyMonths,
        access=_NO_KEY,
        csv_example="month,zone_id,measure,households,total,mean,withheld\r\n"
        "2026-10-01,ward-camden-town,electricity_kwh,412,101264.2,245.8,\r\n"
        "2026-10-01,ward-kings-cross,electricity_kwh,,,,few_contributors\r\n",
    ),
)
async def energy_monthly(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    start: MonthParam = None,
    end: MonthParam = None,
    format: FormatParam = None,
) -> Response:
    this_month = datetime.now(UTC).date().replace(day=1)
    last = min((end or this_month).replace(day=1), this_month)  # a month counts once it ended
    first = (start or last.replace(year=last.year - 1)).replace(day=1)
    if first >= last:
        raise ApiProblem("bad-request", "`start` must be a complete month before `end`")
    if (last.year - first.year) * 12 + last.month - first.month > 120:
        raise ApiProblem("bad-request", "at most ten years at a time")
    use = await energy_reports.ward_monthly_use(
        conn, start=first, end=last, fields=tuple(_MEASURES)
    )
    items: list[EnergyMonth] = []
    for field, measure in _MEASURES.items():
        wards, totals = publish(
            [WardValue(w.month, w.ward, w.contributors, w.total, w.largest) for w in use[field]]
        )
        for a in [*wards, *totals]:
            items.append(
                EnergyMonth(
                    month=a.month,
                    zone_id=a.ward,
                    measure=measure,  # type: ignore[arg-type]
                    households=None if a.withheld else a.households,
                    total=a.total,
                    mean=a.mean,
                    withheld=a.withheld,
                )
            )
    items.sort(key=lambda i: (i.month, i.measure, i.zone_id is None, i.zone_id or ""))
    body = EnergyMonths(
        dataset="energy-monthly",
        license=OGL,
        start=first,
        end=last,
        disclosure=disclosure(),
        items=items,
    )
    columns = [c.name for c in SPECS["energy-monthly"].columns]
    return represent(
        request,
        principal,
        body,
        format=format,
        table=lambda: Table(tuple(columns), _rows(items, columns)),
    )


__all__ = ["DATASETS", "router"]
