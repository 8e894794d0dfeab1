"""The API's application: :func:`create_app` builds it from an :class:`ApiConfig`.

Everything under ``/v1``; the OpenAPI 3.1 document at ``/v1/openapi.json``, interactive docs at
``/docs``. The lifespan opens the two pools (reads as ``civicpulse_reader``, a small owner pool
for writes) and closes them; a database that cannot be reached, or a login role that cannot
become the reader, stops the start with the reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import openapi, pages, problems
from api.auth import caller
from api.config import ApiConfig
from api.database import open_reader, open_writer
from api.limits import BodyLimit
from api.metrics import install as install_metrics
from api.oidc import OidcVerifier
from api.ratelimit import RateLimiter
from api.routes import ROUTERS
from api.runtime import Runtime
from devices.model import DeviceType
from devices.types import DEVICE_TYPES

logger = logging.getLogger(__name__)

DESCRIPTION = """\
The open data and services of a borough's sensors: devices and zones (GeoJSON), readings and
rollups, device health, alerts and subscriptions.

**Keys.** Public data needs no key. Send a key as `Authorization: Bearer <key>` (or
`X-API-Key: <key>`); staff may use a token from the council's identity provider instead.
Scopes: `public`, `developer`, `officer`, `resident` (one household), `admin`.

**Conventions.** Errors are problem details (RFC 9457, `application/problem+json`). Lists are
paged by opaque cursors: follow `links.next` (also a `Link` header). Times are ISO 8601 with
their offset. Units are in `/v1/device-types` and in each series' `units`. Tables come as CSV
with `?format=csv` or `Accept: text/csv`. Reads carry an `ETag`; send `If-None-Match` to get
`304 Not Modified`. Requests are rate limited per key (per address without one): `429` with
`Retry-After`.
"""
TAGS = [
    {"name": "about", "description": "The API itself: index, caller, device types, problems"},
    {"name": "devices", "description": "Devices (GeoJSON) and their health"},
    {"name": "readings", "description": "A device's readings, latest value and rollups"},
    {"name": "zones", "description": "Zones (GeoJSON) and their aggregated series"},
    {"name": "alerts", "description": "Alerts and their audit trails"},
    {"name": "subscriptions", "description": "Hearing about an area's alerts"},
]


def create_app(config: ApiConfig, *, types: Mapping[str, DeviceType] = DEVICE_TYPES) -> FastAPI:
    """The API, ready for an ASGI server (``civicpulse api`` runs it under uvicorn)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader = await open_reader(
            config.read_url,
            role=config.reader_role,
            size=config.reader_pool_size,
            statement_timeout_ms=config.statement_timeout_ms,
        )
        try:
            writer = await open_writer(config.database_url, size=config.writer_pool_size)
            try:
                app.state.runtime = Runtime(
                    config=config,
                    types=dict(types),
                    reader=reader,
                    writer=writer,
                    limiter=RateLimiter(),
                    oidc=None if config.oidc is None else OidcVerifier(config.oidc),
                )
                logger.info("API ready: reads as %s", config.reader_role)
                yield
            finally:
                app.state.runtime = None
                await writer.close()
        finally:
            await reader.close()

    app = FastAPI(
        title="CivicPulse API",
        version="1",
        summary="A borough's sensors: open data, device health, alerts",
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    for router in ROUTERS:
        app.include_router(router, prefix="/v1", dependencies=[Depends(caller)])
    app.include_router(pages.router, dependencies=[Depends(caller)])  # residents' pages
    app.mount("/static", pages.static_files(), name="static")
    problems.install(app, retry_after_s=config.retry_after_s)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Link", "Location", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(BodyLimit)
    install_metrics(app)  # outermost: times and logs everything; serves /metrics

    def schema() -> dict[str, Any]:
        return openapi.document(app)

    app.openapi = schema  # type: ignore[method-assign]
    return app
