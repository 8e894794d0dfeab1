"""What the API holds while it runs: pools, rate limiter, token verifier. Made by the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from fastapi import Request

from api.config import ApiConfig
from api.database import ReaderPool, writing
from api.oidc import OidcVerifier
from api.ratelimit import RateLimiter
from devices.model import DeviceType
from storage.connection import Conn, Pool


@dataclass(slots=True)
class Runtime:
    config: ApiConfig
    types: Mapping[str, DeviceType]
    reader: ReaderPool
    writer: Pool
    limiter: RateLimiter
    oidc: OidcVerifier | None
    touched: dict[int, float] = field(default_factory=dict)
    """Key id → when this process last recorded its use (monotonic seconds)."""

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        async with self.reader.connection() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        async with writing(self.writer) as conn:
            yield conn


def runtime(request: Request) -> Runtime:
    found = getattr(request.app.state, "runtime", None)
    if not isinstance(found, Runtime):
        raise RuntimeError("the API's lifespan has not run (start it with its ASGI server)")
    return found
