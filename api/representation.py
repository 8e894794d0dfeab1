"""A read's answer: JSON (or GeoJSON) or CSV, with its validator and caching headers, or a
``304 Not Modified`` when the client already holds it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import Request, Response
from pydantic import BaseModel

from api import caching
from api.formats import CSV, JSON, Format, Table, choose, csv_bytes
from api.runtime import runtime
from api.scopes import Principal


def represent(
    request: Request,
    principal: Principal,
    body: BaseModel,
    *,
    table: Callable[[], Table] | None = None,
    format: Format | None = None,
    json_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> Response:
    media = choose(
        request.headers.get("accept"), format, json_type=json_type, csv=table is not None
    )
    if media == CSV and table is not None:
        content = csv_bytes(table())
        media_type = "text/csv; charset=utf-8"
    else:
        content = body.model_dump_json().encode()
        media_type = media
    tag = caching.etag(content)
    sent = {
        "ETag": tag,
        "Cache-Control": caching.cache_control(principal, runtime(request).config.cache_max_age_s),
        "Vary": caching.VARY,
        **(headers or {}),
    }
    if caching.matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=sent)
    return Response(content, media_type=media_type, headers=sent)
