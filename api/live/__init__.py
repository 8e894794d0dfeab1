"""Live updates: one hub per API process follows the change feed and the alert feed and streams
zones' parking availability and alerts to clients as Server-Sent Events.

:func:`lifespan` starts the hub with the app (the live router carries it, so ``create_app``
needs nothing of its own) and stops it, ending every stream; :func:`hub` finds it for a route.
A test may set ``app.state.live_config`` to a :class:`LiveConfig` before the app starts.

The hub reads through a pool of its own (two connections, as the reader role, opened at start
and never grown), so that its catch-ups neither wait behind requests nor hold connections
requests need.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request

from api.database import ReaderPool
from api.live.hub import Hub, LiveConfig
from api.problems import ApiProblem
from api.runtime import Runtime
from storage.connection import open_pool


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    rt = getattr(app.state, "runtime", None)
    if not isinstance(rt, Runtime):
        raise RuntimeError("the API's own lifespan must run first (it opens the pools)")
    config = getattr(app.state, "live_config", None)
    pool = await open_pool(rt.config.read_url, min_size=2, max_size=2, name="civicpulse-api-live")
    # A day of a city's bay readings may take longer than one request is allowed.
    reader = ReaderPool(
        pool,
        role=rt.config.reader_role,
        statement_timeout_ms=max(rt.config.statement_timeout_ms, 120_000),
    )
    live = Hub(
        database_url=rt.config.read_url,
        read=reader.connection,
        types=rt.types,
        config=config if isinstance(config, LiveConfig) else None,
    )
    app.state.live = live
    live.start()
    try:
        yield
    finally:
        try:
            await live.close()
            app.state.live = None
        finally:
            await reader.close()


def hub(request: Request) -> Hub:
    found = getattr(request.app.state, "live", None)
    if not isinstance(found, Hub):
        raise RuntimeError("the live updates' lifespan has not run")
    return found


async def ready_hub(request: Request) -> Hub:
    """The hub, once it has caught up with the bays (503 if it cannot in time)."""
    found = hub(request)
    if not await found.wait_ready():
        raise ApiProblem(
            "unavailable",
            "live parking data is catching up; try again shortly",
            headers={"Retry-After": "5"},
        )
    return found


__all__ = ["Hub", "LiveConfig", "hub", "lifespan", "ready_hub"]
