"""Time ranges of series requests: defaults, safe arithmetic, and windows that bound one
response. Pure.

A request names ``[start, end)``. Raw readings page by rows; rollups page by time: one response
covers at most a window (a month of hours, a year of days, ten years of months) and its ``next``
link continues from the window's end, so that no request, however wide, reads without bound.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Query
from pydantic import AwareDatetime

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
WINDOWS: dict[Literal["hourly", "daily", "monthly"], timedelta] = {
    "hourly": timedelta(days=31),
    "daily": timedelta(days=366),
    "monthly": timedelta(days=3660),
}
DEFAULT_SPANS: dict[Literal["raw", "hourly", "daily", "monthly"], timedelta] = {
    "raw": timedelta(days=1),
    "hourly": timedelta(days=2),
    "daily": timedelta(days=31),
    "monthly": timedelta(days=366),
}

Start = Annotated[
    AwareDatetime | None,
    Query(
        description="From this time, inclusive (ISO 8601 with an offset). Default: `end` minus"
        " a day of readings, two days of hours, a month of days or a year of months",
        examples=["2026-11-24T00:00:00+00:00"],
    ),
]
End = Annotated[
    AwareDatetime | None,
    Query(
        description="Until this time, exclusive (ISO 8601 with an offset). Default: now",
        examples=["2026-11-25T00:00:00+00:00"],
    ),
]


def shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held within the representable times."""
    try:
        return moment + delta
    except OverflowError:
        return EARLIEST if delta < timedelta(0) else LATEST


def resolve(
    start: datetime | None, end: datetime | None, *, now: datetime, span: timedelta
) -> tuple[datetime, datetime]:
    """``(start, end)`` in UTC, defaults filled in (an empty range stays empty)."""
    end_utc = to_utc(end) if end is not None else now
    start_utc = to_utc(start) if start is not None else shift(end_utc, -span)
    return start_utc, end_utc


def to_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before the first representable UTC time
        return EARLIEST if moment.year == 1 else LATEST


def window(start: datetime, end: datetime, span: timedelta) -> tuple[datetime, datetime | None]:
    """The end of the first window of ``[start, end)`` and where the next one starts (``None``
    when this window reaches ``end``)."""
    stop = shift(start, span)
    if stop >= end:
        return end, None
    return stop, stop


def month_ceiling(moment: datetime) -> datetime:
    """The first month start at or after ``moment`` (UTC)."""
    floor = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if floor == moment:
        return floor
    if floor.month == 12:
        return LATEST if floor.year == LATEST.year else floor.replace(year=floor.year + 1, month=1)
    return floor.replace(month=floor.month + 1)
