"""Fixtures of the API's tests: a seeded city (one database for the session's read-only
tests), a fresh one for tests that change it, and an in-process client with the app's lifespan
running."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from api import ApiConfig, create_app
from storage.migrate import migrate
from tests.api.city import City, build
from tests.conftest import create_database, drop_database


def _city(server: str) -> Iterator[City]:
    url = create_database(server)
    try:
        asyncio.run(migrate(url, timescaledb="off"))
        yield asyncio.run(build(url))
    finally:
        drop_database(server, url)


@pytest.fixture(scope="session")
def city(pg_server: str) -> Iterator[City]:
    """Read-only: tests must not change it (use ``fresh_city``)."""
    yield from _city(pg_server)


@pytest.fixture
def fresh_city(pg_server: str) -> Iterator[City]:
    yield from _city(pg_server)


def config(url: str, **changes: object) -> ApiConfig:
    # Generous limits: rate limiting has tests of its own.
    base = ApiConfig(
        database_url=url,
        rate_per_minute=100_000,
        public_rate_per_minute=100_000,
        reader_pool_size=4,
        writer_pool_size=2,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client that calls it in-process."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        yield client


@pytest.fixture
async def api_client(city: City) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(config(city.url))) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
