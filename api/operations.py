"""How each route describes itself in the OpenAPI document: summary, description with who may
call it, media types, and security (optional for public routes, required for the others)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.formats import CSV, GEOJSON
from api.problems import MEDIA_TYPE
from api.scopes import Scope

PUBLIC_SECURITY: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}, {"apiKeyHeader": []}]
KEYED_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


def operation(
    *,
    summary: str,
    description: str,
    model: type[BaseModel] | None,
    scopes: Iterable[Scope] | None = None,
    access: str | None = None,
    geojson: bool = False,
    csv_example: str | None = None,
    status_code: int = 200,
    errors: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a route decorator. ``scopes`` ``None``: anyone, key or not;
    ``access`` says more where visibility depends on the caller."""
    if scopes is None:
        who = "anyone; no key needed"
        security = PUBLIC_SECURITY
    else:
        who = "scopes " + ", ".join(f"`{s.value}`" for s in scopes)
        security = KEYED_SECURITY
    text = f"{description}\n\n**Who may call it:** {who}."
    if access:
        text += f" {access}"
    responses: dict[int | str, Any] = {}
    if csv_example is not None:
        text += " **Formats:** JSON, or CSV with `?format=csv` or `Accept: text/csv`."
        responses[status_code] = {
            "content": {CSV: {"schema": {"type": "string"}, "example": csv_example}}
        }
    for status, meaning in (errors or {}).items():
        responses[status] = {
            "description": meaning,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    kwargs: dict[str, Any] = {
        "summary": summary,
        "description": text,
        "status_code": status_code,
        "responses": responses,
        "openapi_extra": {"security": security},
    }
    if model is not None:
        kwargs["response_model"] = model
        kwargs["response_class"] = GeoJSONResponse if geojson else JSONResponse
    return kwargs
