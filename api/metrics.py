"""What the API records of each request: Prometheus metrics at ``GET /metrics`` (outside ``/v1``
and the OpenAPI document) and one access-log line (logger ``api.access``).

Requests are counted by method, route *template* and status, and timed by method and template:
templates keep the number of series bounded and keep tokens in paths out of the metrics, as the
access log does. With several uvicorn workers each is a process of its own; ``civicpulse api``
then gives ``prometheus-client`` a fresh multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``,
read by the library itself when it is imported), and a scrape answered by any worker reports the
sum over all of them. Keep ``/metrics`` off the public internet at the reverse proxy.

The log line holds nothing secret or personal: method, the route's template, status, duration
and the caller's safe subject (``key:12``, ``oidc:<digest>``, ``anonymous``); never query
strings, headers (keys, tokens), bodies (contact details) or client addresses. The server's own
access log is off (``civicpulse api``).
"""

from __future__ import annotations

import logging
import os
import time

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_logger = logging.getLogger("api.access")

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "/v1"

REQUESTS = Counter(
    "civicpulse_api_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
SECONDS = Histogram(
    "civicpulse_api_request_seconds",
    "Time to answer a request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
)


class RequestMetrics:
    """ASGI middleware counting, timing and logging every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - began
            method, route = str(scope.get("method", "")), template(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            SECONDS.labels(method, route).observe(seconds)
            state = scope.get("state") or {}
            principal = state.get("principal") if isinstance(state, dict) else None
            access_logger.info(
                "%s %s %d %.1fms %s",
                method,
                route,
                status,
                seconds * 1000,
                getattr(principal, "subject", "-"),
            )


def template(scope: Scope) -> str:
    """The matched route's path template under its mount prefix, or ``(no route)``."""
    route = scope.get("route")
    found = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(found, str):
        return "(no route)"
    mounted = str(scope.get("path", "")).startswith(PREFIX)
    if mounted and not found.startswith(PREFIX + "/") and found != PREFIX:
        return PREFIX + found
    return found


async def metrics(_request: Request) -> Response:
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIR):  # prometheus-client's own switch, set by `civicpulse api`
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Count, time and log ``app``'s requests, and serve the counts at ``/metrics``."""
    app.add_middleware(RequestMetrics)
    app.add_route("/metrics", metrics, include_in_schema=False)
