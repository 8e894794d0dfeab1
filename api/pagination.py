"""Cursor pagination: opaque cursors, a ``limit`` with a maximum, and a ``next`` link.

A cursor is the page's last key (base64url of a small JSON array), so the next page starts
right after it however many rows arrive meanwhile; no offsets that skip or repeat rows. Clients
treat it as opaque: they follow ``links.next`` (also sent as ``Link: <…>; rel="next"``) until it
is ``null``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.problems import ApiProblem

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_VERSION = 1

Limit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description=f"Items per page (at most {MAX_LIMIT})",
        examples=[DEFAULT_LIMIT],
    ),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Where to continue: the `cursor` of the previous page's `links.next`. Opaque.",
        examples=["WzEsInN0cmVldC0wMDEiXQ"],
    ),
]


class Links(BaseModel):
    """Where to go from this page."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [{"next": "https://api.example/v1/devices?limit=100&cursor=WzEsImQtMDkiXQ"}]
        },
    )
    next: str | None = Field(description="The next page, or `null` on the last one")


def encode_cursor(*key: str | int | datetime) -> str:
    values: list[Any] = [_VERSION]
    values += [v.isoformat() if isinstance(v, datetime) else v for v in key]
    text = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type[str] | type[int] | type[datetime]) -> tuple[Any, ...]:
    """The key in ``cursor``, with each value of the kind given; ``invalid-cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ApiProblem("invalid-cursor") from None
    if not isinstance(values, list) or len(values) != len(kinds) + 1 or values[0] != _VERSION:
        raise ApiProblem("invalid-cursor")
    out: list[Any] = []
    for value, kind in zip(values[1:], kinds, strict=True):
        if kind is datetime:
            try:
                parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                raise ApiProblem("invalid-cursor")
            out.append(parsed)
        elif (kind is int and isinstance(value, int) and not isinstance(value, bool)) or (
            kind is str and isinstance(value, str) and value
        ):
            out.append(value)
        else:
            raise ApiProblem("invalid-cursor")
    return tuple(out)


def next_link(request: Request, cursor: str | None) -> str | None:
    """This request's URL with ``cursor`` in place of its own (``None`` on the last page)."""
    if cursor is None:
        return None
    return str(request.url.include_query_params(cursor=cursor))


def link_header(next_url: str | None) -> dict[str, str]:
    return {} if next_url is None else {"Link": f'<{next_url}>; rel="next"'}
