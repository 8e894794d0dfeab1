"""A device's series: ``/v1/devices/{id}/readings``, ``…/latest`` and ``…/rollups``.

Household meters' series go to their own household's resident key only; the storage layer reads
them through the consent views, so even that key sees sub-daily data only where the household
consented to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.access import Access, series_access
from api.aggregates import monthly_from_daily
from api.dependencies import Caller, ReadConn
from api.formats import FormatParam, Table
from api.lookup import DeviceId, find_device
from api.models.common import Grain, Stats
from api.models.series import Bucket, DeviceRollups, LatestReading, Reading, ReadingsPage
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
from api.scopes import Principal
from api.timerange import DEFAULT_SPANS, WINDOWS, End, Start, month_ceiling, resolve, window
from devices.model import DeviceType
from devices.registry import Device
from storage import readings
from storage.connection import Conn
from storage.readings import FieldStats, ReadingRow, RollupRow, Selection

router = APIRouter(tags=["readings"])

_ACCESS = (
    "A device in a home (smart meter) answers only its own household's resident key: officers"
    " and admins are refused (403, read zone aggregates instead); to others it does not exist"
    " (404)."
)
GrainParam = Annotated[
    Grain, Query(description="Hours, days (UTC) or calendar months", examples=["hourly"])
]


async def series_device(
    request: Request, conn: Conn, principal: Principal, device_id: str
) -> tuple[Device, DeviceType]:
    """The device whose series is asked for, if the caller may read it."""
    types = runtime(request).types
    device = await find_device(conn, device_id)
    access = Access.HIDDEN if device is None else series_access(principal, device, types)
    if device is None or access is Access.HIDDEN or device.device_type not in types:
        raise ApiProblem("not-found", f"no device {device_id!r}")
    if access is Access.REFUSED:
        raise ApiProblem(
            "household-data",
            f"{device_id} is in a home: its consumption goes to its household's resident key only",
        )
    return device, types[device.device_type]


def units(device_type: DeviceType) -> dict[str, str]:
    return {f.name: f.unit for f in device_type.fields}


def _reading(row: ReadingRow) -> Reading:
    return Reading(ts=row.ts, seq=row.seq, values=dict(row.values))


@router.get(
    "/devices/{device_id}/readings",
    **operation(
        summary="A device's readings",
        description="Readings with `start <= ts < end`, oldest first, a page at a time; values"
        " in the units of `units`.",
        model=ReadingsPage,
        access=_ACCESS,
        csv_example="device_id,ts,seq,no2,pm25\r\naq-camden-001,2026-11-25T08:00:00+00:00,"
        "1841,41.0,12.5\r\n",
    ),
)
async def device_readings(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    device_id: DeviceId,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    _, device_type = await series_device(request, conn, principal, device_id)
    start, end = resolve(start, end, now=datetime.now(UTC), span=DEFAULT_SPANS["raw"])
    after = None
    if cursor:
        after_id, after_ts = decode_cursor(cursor, str, datetime)
        if after_id != device_id:
            raise ApiProblem("invalid-cursor")
        after = (after_id, after_ts)
    rows = await readings.readings(
        conn,
        device_type,
        start=start,
        end=end,
        selection=Selection(device_ids=[device_id]),
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_url = next_link(
        request, encode_cursor(device_id, page[-1].ts) if len(rows) > limit else None
    )
    body = ReadingsPage(
        device_id=device_id,
        device_type=device_type.name,
        units=units(device_type),
        start=start,
        end=end,
        items=[_reading(r) for r in page],
        links=Links(next=next_url),
    )

    def table() -> Table:
        names = device_type.columns
        return Table(
            ("device_id", "ts", "seq", *names),
            [(device_id, r.ts, r.seq, *(r.values.get(n) for n in names)) for r in page],
        )

    return represent(
        request, principal, body, table=table, format=format, headers=link_header(next_url)
    )


@router.get(
    "/devices/{device_id}/latest",
    **operation(
        summary="A device's latest reading",
        description="The newest reading the device has sent (by its own clock).",
        model=LatestReading,
        access=_ACCESS,
    ),
)
async def device_latest(
    request: Request, principal: Caller, conn: ReadConn, device_id: DeviceId
) -> Response:
    _, device_type = await series_device(request, conn, principal, device_id)
    rows = await readings.latest(conn, device_type, selection=Selection(device_ids=[device_id]))
    body = LatestReading(
        device_id=device_id,
        device_type=device_type.name,
        units=units(device_type),
        reading=_reading(rows[0]) if rows else None,
    )
    return represent(request, principal, body)


def stats(value: FieldStats) -> Stats:
    return Stats(n=value.n, sum=value.sum, min=value.min, max=value.max, avg=value.avg)


def rollup_table(
    leading: Sequence[str], names: Sequence[str], rows: Sequence[Sequence[object]]
) -> Table:
    header = (*leading, *(f"{n}_{s}" for n in names for s in ("n", "sum", "min", "max", "avg")))
    return Table(header, rows)


def _stat_cells(row: RollupRow, names: Sequence[str]) -> list[object]:
    cells: list[object] = []
    for n in names:
        s = row.stats.get(n)
        cells += [None] * 5 if s is None else [s.n, s.sum, s.min, s.max, s.avg]
    return cells


async def _device_rollups(
    conn: Conn,
    device: Device,
    device_type: DeviceType,
    grain: Grain,
    start: datetime,
    end: datetime,
) -> list[RollupRow]:
    selection = Selection(device_ids=[device.device_id])
    if grain != "monthly" or device_type.personal:
        return await readings.rollups(
            conn, device_type, grain, start=start, end=end, selection=selection
        )
    # Other types have no monthly relation: whole months summed from their days.
    daily = await readings.rollups(
        conn,
        device_type,
        "daily",
        start=month_ceiling(start),
        end=month_ceiling(end),
        selection=selection,
    )
    return monthly_from_daily(daily)


@router.get(
    "/devices/{device_id}/rollups",
    **operation(
        summary="A device's hourly, daily or monthly rollups",
        description="Per bucket starting in `[start, end)`: readings, and per field count, sum,"
        " minimum, maximum and mean. One answer covers at most 31 days of hours, 366 days of"
        " days or ten years of months; `links.next` continues from there.",
        model=DeviceRollups,
        access=_ACCESS,
        csv_example="device_id,bucket,samples,no2_n,no2_sum,no2_min,no2_max,no2_avg\r\n"
        "aq-camden-001,2026-11-24T08:00:00+00:00,12,12,502.8,38.2,44.9,41.9\r\n",
    ),
)
async def device_rollups(
    request: Request,
    principal: Caller,
    conn: ReadConn,
    device_id: DeviceId,
    grain: GrainParam = "hourly",
    start: Start = None,
    end: End = None,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Response:
    device, device_type = await series_device(request, conn, principal, device_id)
    start, end = resolve(start, end, now=datetime.now(UTC), span=DEFAULT_SPANS[grain])
    first = start
    if cursor:
        (first,) = decode_cursor(cursor, datetime)
        if not start <= first < end:
            raise ApiProblem("invalid-cursor")
    stop, following = window(first, end, WINDOWS[grain])
    rows = await _device_rollups(conn, device, device_type, grain, first, stop)
    next_url = next_link(request, None if following is None else encode_cursor(following))
    names = device_type.columns
    body = DeviceRollups(
        device_id=device_id,
        device_type=device_type.name,
        grain=grain,
        units=units(device_type),
        start=first,
        end=stop,
        items=[
            Bucket(
                bucket=r.bucket, samples=r.samples, stats={n: stats(s) for n, s in r.stats.items()}
            )
            for r in rows
        ],
        links=Links(next=next_url),
    )
    return represent(
        request,
        principal,
        body,
        format=format,
        headers=link_header(next_url),
        table=lambda: rollup_table(
            ("device_id", "bucket", "samples"),
            names,
            [(device_id, r.bucket, r.samples, *_stat_cells(r, names)) for r in rows],
        ),
    )
