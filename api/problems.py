"""Problem details (RFC 9457, ``application/problem+json``) for every error the API answers.

The platform's named errors become HTTP here, at the edge, and nowhere else: a user's mistake
is a 400 that says what to change; a database briefly away is a 503 with ``Retry-After``; a
database behind the code is a 503 naming the fix; anything else is a 500 that reveals nothing
of the server's insides (the log has it, without the request's secrets).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicpulse.errors import CivicPulseError, ConfigError, SchemaError, StorageError, UsageError

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/v1/problems/"
"""Problem types are URI references under the API (``GET /v1/problems/{slug}`` explains one)."""


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str


_TYPES = (
    ProblemType(
        "bad-request",
        400,
        "Bad request",
        "The request cannot be served as asked; `detail` says what to change.",
    ),
    ProblemType(
        "invalid-cursor",
        400,
        "Invalid cursor",
        "The `cursor` parameter is not one this API handed out. Start again from the first page.",
    ),
    ProblemType(
        "unauthenticated",
        401,
        "Unauthenticated",
        "The credentials sent are not a "
        "valid API key or token (unknown, revoked, expired or malformed).",
    ),
    ProblemType("forbidden", 403, "Forbidden", "The caller's scope does not allow this."),
    ProblemType(
        "household-data",
        403,
        "A household's own data",
        "One household's consumption "
        "is served only to that household's resident key. Other scopes read "
        "aggregates over many households (`/v1/zones/{zone_id}/rollups/smart_meter`).",
    ),
    ProblemType("not-found", 404, "Not found", "No such resource, or none the caller may see."),
    ProblemType(
        "method-not-allowed",
        405,
        "Method not allowed",
        "The resource does not support this method; `Allow` lists those it does.",
    ),
    ProblemType(
        "not-acceptable",
        406,
        "Not acceptable",
        "None of the media types in `Accept` can be produced; JSON (or GeoJSON) and CSV are.",
    ),
    ProblemType("conflict", 409, "Conflict", "The resource is not in a state that allows this."),
    ProblemType(
        "too-large",
        413,
        "Request too large",
        "The request's body is larger than the API accepts (64 KiB).",
    ),
    ProblemType(
        "validation",
        422,
        "Invalid request",
        "Parameters or body do not match the schema; `errors` lists each problem and where it is.",
    ),
    ProblemType(
        "rate-limited",
        429,
        "Too many requests",
        "The key (or, without a key, the "
        "client address) has used its allowance; wait `Retry-After` seconds.",
    ),
    ProblemType(
        "internal",
        500,
        "Internal error",
        "Something failed on the server. It is logged; nothing about it is revealed here.",
    ),
    ProblemType(
        "schema-behind",
        503,
        "Database not migrated",
        "The database is behind this "
        "version of CivicPulse: an operator runs `civicpulse db migrate`.",
    ),
    ProblemType(
        "unavailable",
        503,
        "Temporarily unavailable",
        "The database is unavailable "
        "or busy, or the query took too long; try again after `Retry-After`, or ask "
        "for less.",
    ),
    ProblemType(
        "identity-provider",
        503,
        "Identity provider unavailable",
        "The identity provider's keys (JWKS) could not be fetched to check a token.",
    ),
)
PROBLEM_TYPES: Mapping[str, ProblemType] = {t.slug: t for t in _TYPES}
_BY_STATUS = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "too-large",
}


class FieldError(BaseModel):
    """One invalid parameter or body member."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "location": "query.start",
                    "message": "Input should have timezone info",
                    "type": "timezone_aware",
                }
            ]
        },
    )
    location: str = Field(description="Where: `query.<name>`, `path.<name>`, `body.<member>`")
    message: str
    type: str = Field(description="A stable code for the kind of problem")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "type": "/v1/problems/not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no device 'aq-0042'",
                    "instance": "/v1/devices/aq-0042",
                }
            ]
        },
    )
    type: str = Field(description="URI reference naming the kind of problem; stable")
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status code", ge=400, le=599)
    detail: str | None = Field(default=None, description="This occurrence, in words")
    instance: str | None = Field(default=None, description="The path the problem occurred on")
    errors: list[FieldError] | None = Field(
        default=None, description="For `validation`: each invalid parameter or body member"
    )


class ApiProblem(Exception):
    """An HTTP error raised by the API's own code; answered as problem details."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        kind = PROBLEM_TYPES[slug]
        super().__init__(f"{kind.status} {slug}: {detail or kind.title}")
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors


def problem_response(
    request: Request | None,
    slug: str,
    detail: str | None = None,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> Response:
    kind = PROBLEM_TYPES[slug]
    body = Problem(
        type=TYPE_BASE + slug,
        title=kind.title,
        status=status or kind.status,
        detail=detail,
        instance=None if request is None else request.url.path,
        errors=errors,
    )
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=body.status,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def storage_problem(request: Request, error: StorageError, retry_after_s: int) -> Response:
    """A storage error as the caller should see it (and logged as the operator should)."""
    if isinstance(error, SchemaError):
        logger.error("database schema is behind: %s", error)
        return problem_response(
            request, "schema-behind", "the database needs `civicpulse db migrate`"
        )
    if error.sqlstate == "57014":  # statement_timeout
        return problem_response(
            request, "unavailable", "the query took too long; ask for a shorter time range"
        )
    if error.retryable:
        logger.warning("database unavailable: %s", error)
        return problem_response(
            request,
            "unavailable",
            "the database is unavailable or busy; try again shortly",
            headers={"Retry-After": str(retry_after_s)},
        )
    if error.rejected:
        # The request's data broke a constraint that validation should have caught first.
        logger.warning(
            "database refused a request's data: %s (%s)", error.operation, error.sqlstate
        )
        return problem_response(request, "validation", "the data was refused by the database")
    # No traceback: psycopg's message chained below it may quote the request's values.
    logger.error("storage error: %s [%s]", error, error.sqlstate)
    return problem_response(request, "internal")


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_errors(error: RequestValidationError) -> list[FieldError]:
    # Never echo the input: it may be an email address, a token or a key.
    return [
        FieldError(
            location=_location(tuple(e.get("loc", ()))),
            message=str(e.get("msg", "")),
            type=str(e.get("type", "invalid")),
        )
        for e in error.errors()
    ]


def install(app: FastAPI, *, retry_after_s: int) -> None:
    """Answer every error as problem details."""

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiProblem)
        return problem_response(
            request, error.kind.slug, error.detail, headers=error.headers, errors=error.errors
        )

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        slug = _BY_STATUS.get(error.status_code)
        if slug is None:
            slug = "bad-request" if error.status_code < 500 else "internal"
        detail = None if error.detail == HTTPStatus(error.status_code).phrase else str(error.detail)
        return problem_response(
            request, slug, detail, status=error.status_code, headers=error.headers
        )

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = _validation_errors(error)
        return problem_response(
            request, "validation", f"{len(errors)} invalid parameter(s)", errors=errors
        )

    async def on_platform(request: Request, error: Exception) -> Response:
        if isinstance(error, StorageError):
            return storage_problem(request, error, retry_after_s)
        if isinstance(error, UsageError) and not isinstance(error, ConfigError):
            return problem_response(request, "bad-request", str(error))
        logger.error("%s: %s", type(error).__name__, error)
        return problem_response(request, "internal")

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(CivicPulseError, on_platform)
    app.add_middleware(LastResort)


class LastResort:
    """Any other exception becomes a 500 problem (logged with its traceback), instead of the
    server's plain-text error page and a connection torn down."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            route: Any = scope.get("route")
            logger.exception(
                "unhandled error in %s %s",
                scope.get("method"),
                getattr(route, "path", "(no route)"),
            )
            if started:
                raise
            await problem_response(None, "internal")(scope, receive, send)
