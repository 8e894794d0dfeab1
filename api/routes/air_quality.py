"""``/v1/air-quality``: the current UK Daily Air Quality Index of monitors and zones with
Defra's health advice, a monitor's daily index, and its year against the UK limits and the WHO
2021 guidelines.

The air-quality analytics compute every figure (after their quality control); this module reads
stored readings for them (:mod:`api.computed.air_quality`) and keeps results briefly: the
borough's current indices for a minute (they change with each completed hour or 15 minutes),
daily histories for five minutes, a year's compliance for an hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from alerts.matching import distance_m
from analytics.air_quality import DailyDaqi, YearCompliance, daqi_band, daqi_level
from analytics.air_quality import MonitorDaqi as Daqi
from api.computed import air_quality as computed
from api.computed.air_quality import Snapshot
from api.computed.cache import Cached
from api.dependencies import Caller
from api.formats import GEOJSON, FormatParam, Table
from api.lookup import DeviceId, ZoneId
from api.models import air_quality as m
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

router = APIRouter(tags=["air quality"])

SNAPSHOTS: Cached[Snapshot] = Cached("air-quality-now", ttl_s=60)
HISTORIES: Cached[DailyDaqi | None] = Cached("air-quality-days", ttl_s=300)
COMPLIANCE: Cached[tuple[YearCompliance, ...] | None] = Cached("air-quality-years", ttl_s=3600)
HISTORY_WINDOW = 31
"""Days in one answer of a monitor's history; ``links.next`` continues."""
_MONITOR_CSV = (
    "device_id,name,site_type,at,index,band,pollutants,distance_m,longitude,latitude\r\n"
    "cam-aq-001,Camden High Street monitor,roadside,2026-11-25T08:14:03+00:00,4,Moderate,no2,"
    ",-0.141,51.5375\r\n"
)


async def _snapshot(request: Request) -> Snapshot:
    async def compute() -> Snapshot:
        async with runtime(request).read() as conn:
            return await computed.snapshot(conn, datetime.now(UTC))

    return await SNAPSHOTS.of(request).get("borough", compute)


def _instant(value: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(value.astype("datetime64[s]").astype(np.int64)), UTC)


def _level(index: int | None) -> dict[str, object]:
    if index is None:
        return {"index": None, "band": None, "colour": None, "health": None}
    level = daqi_level(index)
    return {
        "index": index,
        "band": level.band.value,
        "colour": level.colour,
        "health": m.HealthAdvice(general=level.advice.general, at_risk=level.advice.at_risk),
    }


def _sub_indices(daqi: Daqi) -> list[m.SubIndex]:
    return [
        m.SubIndex(
            pollutant=s.pollutant,
            index=s.index,
            concentration=None if s.concentration is None else round(s.concentration, 2),
            averaging=s.averaging,
            period_start=_instant(s.start),
            period_end=_instant(s.end),
            capture=s.detail,
            missing=None if s.reason is None else s.reason.value,
        )
        for s in daqi.sub_indices
    ]


def _feature(snap: Snapshot, device_id: str, distance: float | None) -> m.MonitorFeature:
    site, daqi = snap.sites[device_id], snap.monitors[device_id]
    geometry = None
    if site.lon is not None and site.lat is not None:
        geometry = Point(coordinates=(site.lon, site.lat))
    return m.MonitorFeature(
        id=device_id,
        geometry=geometry,
        properties=m.MonitorDaqi.model_validate(
            {
                "name": site.name,
                "site_type": site.site_type,
                "zones": list(site.zones),
                "at": snap.at,
                **_level(daqi.index),
                "pollutants": list(daqi.pollutants),
                "sub_indices": _sub_indices(daqi),
                "qc": {k: list(v) for k, v in snap.flags.get(device_id, {}).items()},
                "distance_m": None if distance is None else round(distance, 1),
            }
        ),
    )


def _monitor_table(features: Sequence[m.MonitorFeature]) -> Table:
    rows = []
    for f in features:
        p = f.properties
        lon, lat = f.geometry.coordinates if f.geometry else (None, None)
        rows.append(
            (f.id, p.name, p.site_type, p.at, p.index, p.band, p.pollutants, p.distance_m, lon, lat)
        )
    return Table(
        (
            "device_id",
            "name",
            "site_type",
            "at",
            "index",
            "band",
            "pollutants",
            "distance_m",
            "longitude",
            "latitude",
        ),
        rows,
    )


@router.get(
    "/air-quality/monitors",
    **operation(
        summary="Monitors and their current DAQI (GeoJSON)",
        description="Every air-quality monitor with its UK Daily Air Quality Index now (1-10:"
        " the highest of its pollutants' sub-indices over their averaging periods), band,"
        " UK-AIR colour and Defra's health advice for the general population and for people at"
        " risk, after quality control (a stuck or faulty sensor's readings are left out, and"
        " `qc` says so). With `lon` and `lat`: the monitors within `radius_m`, nearest first."
        " Indices are recomputed at most once a minute.",
        model=m.MonitorCollection,
        geojson=True,
        csv_example=_MONITOR_CSV,
    ),
)
async def monitors(
    request: Request,
    principal: Caller,
    lon: Annotated[
        float | None, Query(ge=-180, le=180, description="Longitude (WGS84)", examples=[-0.1426])
    ] = None,
    lat: Annotated[
        float | None, Query(ge=-90, le=90, description="Latitude (WGS84)", examples=[51.539])
    ] = None,
    radius_m: Annotated[
        float, Query(gt=0, le=50_000, description="Search radius, metres", examples=[2000])
    ] = 5000.0,
    limit: Limit = 100,
    format: FormatParam = None,
) -> Response:
    if (lon is None) != (lat is None):
        raise ApiProblem("bad-request", "give both lon and lat, or neither")
    snap = await _snapshot(request)
    chosen: list[tuple[float, str, float | None]] = []
    for device_id, site in snap.sites.items():
        if lon is None or lat is None:
            chosen.append((0.0, device_id, None))
        elif site.lon is not None and site.lat is not None:
            distance = distance_m(lon, lat, site.lon, site.lat)
            if distance <= radius_m:
                chosen.append((distance, device_id, distance))
    chosen.sort()
    features = [_feature(snap, d, distance) for _, d, distance in chosen[:limit]]
    body = m.MonitorCollection(features=features)
    return represent(
        request,
        principal,
        body,
        json_type=GEOJSON,
        format=format,
        table=lambda: _monitor_table(features),
    )


@router.get(
    "/air-quality/monitors/{device_id}",
    **operation(
        summary="One monitor's current DAQI (GeoJSON feature)",
        description="The monitor's index now, band, health advice and each pollutant's"
        " sub-index with its averaging period and data capture.",
        model=m.MonitorFeature,
        geojson=True,
    ),
)
async def monitor(request: Request, principal: Caller, device_id: DeviceId) -> Response:
    snap = await _snapshot(request)
    if device_id not in snap.sites:
        raise ApiProblem("not-found", f"no air-quality monitor {device_id!r}")
    return represent(request, principal, _feature(snap, device_id, None), json_type=GEOJSON)


def _zone(snap: Snapshot, zone_id: str) -> m.ZoneDaqi:
    found = snap.zones.get(zone_id)
    monitors = [] if found is None else list(found.monitors)
    index = None if found is None else found.index
    return m.ZoneDaqi.model_validate(
        {
            "zone_id": zone_id,
            "name": snap.zone_names.get(zone_id, zone_id),
            "at": snap.at,
            **_level(index),
            "monitor_id": None if found is None else found.monitor_id,
            "pollutant": None if found is None else found.pollutant,
            "monitors": [
                {"monitor_id": d.monitor_id, "index": d.index, "pollutant": d.pollutant}
                for d in monitors
            ],
            "reporting": 0 if found is None else found.reporting,
        }
    )


@router.get(
    "/air-quality/zones",
    **operation(
        summary="Zones and their current DAQI",
        description="Each zone holding monitors, with its index now: the highest of its"
        " monitors' (as Defra reports a region by its highest site), naming the monitor and"
        " pollutant that set it, with the band and health advice.",
        model=m.ZoneDaqiList,
        csv_example="zone_id,name,at,index,band,monitor_id,pollutant,reporting\r\n"
        "ward-camden-town,Camden Town,2026-11-25T08:14:03+00:00,4,Moderate,cam-aq-001,no2,1\r\n",
    ),
)
async def zones(request: Request, principal: Caller, format: FormatParam = None) -> Response:
    snap = await _snapshot(request)
    items = [_zone(snap, zone_id) for zone_id in sorted(snap.zones)]
    columns = ("zone_id", "name", "at", "index", "band", "monitor_id", "pollutant", "reporting")
    return represent(
        request,
        principal,
        m.ZoneDaqiList(items=items),
        format=format,
        table=lambda: Table(columns, [tuple(getattr(i, c) for c in columns) for i in items]),
    )


@router.get(
    "/air-quality/zones/{zone_id}",
    **operation(
        summary="One zone's current DAQI",
        description="The zone's index now (the highest of its monitors'), band, health advice"
        " and each monitor's index. A zone without monitors has no index.",
        model=m.ZoneDaqi,
    ),
)
async def zone(request: Request, principal: Caller, zone_id: ZoneId) -> Response:
    snap = await _snapshot(request)
    if zone_id not in snap.zone_names:
        raise ApiProblem("not-found", f"no zone {zone_id!r}")
    return represent(request, principal, _zone(snap, zone_id))


Day = Annotated[
    date | None,
    Query(description="A local (Europe/London) calendar day", examples=["2026-11-18"]),
]


@router.get(
    "/air-quality/monitors/{device_id}/daqi",
    **operation(
        summary="A monitor's DAQI per day",
        description="The monitor's index for each local day from `start` to `end` (inclusive;"
        " default the last seven days): PM2.5 and PM10 from the day's mean, O3 from its highest"
        " running 8-hour mean, NO2 from its highest hourly mean, SO2 from its highest 15-minute"
        " mean, each needing 75% data capture, after quality control. At most 31 days per"
        " answer; `links.next` continues.",
        model=m.DaqiHistory,
        csv_example="device_id,day,index,band,pollutant\r\ncam-aq-001,2026-11-24,3,Low,no2\r\n",
    ),
)
async def monitor_history(
    request: Request,
    principal: Caller,
    device_id: DeviceId,
    start: Day = None,
    end: Day = None,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    today = datetime.now(UTC).astimezone(computed.ZONE).date()
    last = end or today
    first = start or last - timedelta(days=6)
    if first > last:
        raise ApiProblem("bad-request", "start must not be after end")
    if cursor:
        (resume,) = decode_cursor(cursor, str)
        try:
            first = date.fromisoformat(resume)
        except ValueError:
            raise ApiProblem("invalid-cursor") from None
        if not (start or first) <= first <= last:
            raise ApiProblem("invalid-cursor")
    stop = min(last, first + timedelta(days=HISTORY_WINDOW - 1))

    async def compute() -> DailyDaqi | None:
        async with runtime(request).read() as conn:
            return await computed.daily_history(conn, device_id, first, stop)

    found = await HISTORIES.of(request).get((device_id, first, stop), compute)
    if found is None:
        raise ApiProblem("not-found", f"no air-quality monitor {device_id!r}")
    computed_days = {date.fromisoformat(str(day)): k for k, day in enumerate(found.day)}
    items = []
    for offset in range((stop - first).days + 1):
        shown = first + timedelta(days=offset)
        k = computed_days.get(shown)  # a day without readings has no index either
        index = None if k is None else int(found.index[k]) or None
        subs: dict[str, int | None] = {
            p: None if k is None else int(v[k]) or None for p, v in found.sub_index.items()
        }
        items.append(
            m.DailyDaqi(
                day=shown,
                index=index,
                band=None if index is None else daqi_band(index).value,
                pollutant=None if k is None else found.pollutant[k],
                sub_indices=subs,
            )
        )
    following = stop + timedelta(days=1) if stop < last else None
    next_url = next_link(
        request, None if following is None else encode_cursor(following.isoformat())
    )
    body = m.DaqiHistory(
        device_id=device_id, start=first, end=stop, items=items, links=Links(next=next_url)
    )
    return represent(
        request,
        principal,
        body,
        format=format,
        headers=link_header(next_url),
        table=lambda: Table(
            ("device_id", "day", "index", "band", "pollutant"),
            [(device_id, i.day, i.index, i.band, i.pollutant) for i in items],
        ),
    )


@router.get(
    "/air-quality/monitors/{device_id}/compliance",
    **operation(
        summary="A monitor's year against the UK limits and WHO 2021 guidelines",
        description="Each objective for the pollutants the monitor measures, over the local"
        " calendar `year` (default this year, so far): UK limit values and LAQM objectives, the"
        " UK PM2.5 target, and the WHO 2021 guideline levels (short-term ones as 99th"
        " percentiles). The outcome is `met`, `exceeded` or `insufficient data capture` (below"
        " 75% of the year's periods). After quality control; kept for an hour.",
        model=m.Compliance,
        csv_example="key,pollutant,framework,metric,level_ugm3,allowed,value,outcome,capture\r\n"
        "uk_no2_annual,no2,UK limit value / LAQM objective,annual mean,40.0,0,43.2,exceeded,"
        "0.96\r\n",
    ),
)
async def monitor_compliance(
    request: Request,
    principal: Caller,
    device_id: DeviceId,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="A calendar year", examples=[2025])
    ] = None,
    format: FormatParam = None,
) -> Response:
    this_year = datetime.now(UTC).astimezone(computed.ZONE).year
    year = this_year if year is None else year
    if year > this_year:
        raise ApiProblem("bad-request", f"{year} has not begun")

    async def compute() -> tuple[YearCompliance, ...] | None:
        async with runtime(request).read() as conn:
            return await computed.year_compliance(conn, device_id, year)

    found = await COMPLIANCE.of(request).get((device_id, year), compute)
    if found is None:
        raise ApiProblem("not-found", f"no air-quality monitor {device_id!r}")
    results = [
        m.ComplianceResult(
            key=r.objective.key,
            pollutant=r.objective.pollutant,
            framework=r.objective.framework.value,
            metric=r.objective.metric.value,
            description=r.objective.description,
            level_ugm3=r.objective.level_ugm3,
            allowed=r.objective.allowed,
            value=None if r.value is None or math.isnan(r.value) else round(r.value, 3),
            exceedances=r.exceedances,
            outcome=r.outcome.value,
            valid=r.valid,
            expected=r.expected,
            capture=round(r.capture, 4),
            source=r.objective.source,
        )
        for assessed in found
        for r in assessed.results
    ]
    body = m.Compliance(device_id=device_id, year=year, results=results)
    columns = (
        "key",
        "pollutant",
        "framework",
        "metric",
        "level_ugm3",
        "allowed",
        "value",
        "outcome",
        "capture",
    )
    return represent(
        request,
        principal,
        body,
        format=format,
        table=lambda: Table(columns, [tuple(getattr(r, c) for c in columns) for r in results]),
    )
