"""Media types: JSON (or GeoJSON) by default, CSV for tables; chosen by ``?format=`` or
``Accept``. Pure.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Query

from api.problems import ApiProblem

JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv"
Format = Literal["json", "csv"]
FormatParam = Annotated[
    Format | None,
    Query(
        alias="format",
        description="`csv` for a table (as `Accept: text/csv`); default JSON",
        examples=["csv"],
    ),
]


@dataclass(frozen=True, slots=True)
class Table:
    """A resource as rows, for CSV."""

    header: tuple[str, ...]
    rows: Sequence[Sequence[object]]


def _ranges(accept: str) -> list[tuple[str, float]]:
    out = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            out.append((media.lower(), q))
    return out


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The q of the most specific range matching ``offer`` (0 when none does)."""
    kind = offer.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for media, q in ranges:
        specificity = (
            2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        )
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def choose(accept: str | None, format: Format | None, *, json_type: str, csv: bool) -> str:
    """The media type to answer with; ``not-acceptable`` when there is none."""
    if format == "csv" and csv:
        return CSV
    if format == "json":
        return json_type
    if not accept:
        return json_type
    ranges = _ranges(accept)
    offers = [json_type] + ([JSON] if json_type != JSON else []) + ([CSV] if csv else [])
    scored = [(_quality(o, ranges), -i, o) for i, o in enumerate(offers)]
    q, _, offer = max(scored)
    if q <= 0:
        raise ApiProblem("not-acceptable", "offered: " + ", ".join(offers))
    return offer


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # A spreadsheet would run it as a formula (CSV injection): make it text.
        return "'" + value
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.header)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    return out.getvalue().encode()
