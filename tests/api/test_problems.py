"""Every error is problem details (RFC 9457), and the platform's errors map to HTTP at the edge:
a user's mistake 400, a database behind the code 503 with the fix, a database briefly away 503
with Retry-After, anything else 500 revealing nothing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from psycopg import sql
from psycopg.conninfo import make_conninfo

from api import create_app
from api.dependencies import ReadConn
from api.problems import PROBLEM_TYPES
from civicpulse.errors import ConfigError, SchemaError, StorageError, UsageError
from storage.connection import connect
from tests.api.city import City
from tests.api.conftest import config, serving

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "errors"}


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) <= PROBLEM_KEYS
    assert body["type"] == f"/v1/problems/{slug}"
    assert body["status"] == status
    assert body["title"] == PROBLEM_TYPES[slug].title
    return body  # type: ignore[no-any-return]


async def test_routing_errors(api_client: httpx.AsyncClient) -> None:
    body = problem(await api_client.get("/v1/nowhere"), 404, "not-found")
    assert body["instance"] == "/v1/nowhere"
    wrong_method = await api_client.put("/v1/devices")
    problem(wrong_method, 405, "method-not-allowed")
    assert wrong_method.headers["allow"] == "GET"
    problem(await api_client.get("/v1/devices/nope"), 404, "not-found")


async def test_validation_errors_say_where_without_echoing(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/v1/devices?limit=0&type=toaster")
    body = problem(response, 422, "validation")
    locations = {e["location"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert locations == {"query.limit", "query.type"}
    secret = "someone.private@example.org\x00"
    bad = await api_client.post(
        "/v1/alerts/subscriptions",
        json={"area": {"zone_id": "ward-a"}, "channels": {"email": secret}},
    )
    problem(bad, 422, "validation")
    assert "someone.private" not in bad.text
    not_json = await api_client.post(
        "/v1/alerts/subscriptions", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code in (400, 422)
    assert not_json.headers["content-type"] == "application/problem+json"


async def test_problem_types_are_documented(api_client: httpx.AsyncClient) -> None:
    listed = (await api_client.get("/v1/problems")).json()["items"]
    assert {p["type"] for p in listed} == {f"/v1/problems/{s}" for s in PROBLEM_TYPES}
    one = (await api_client.get("/v1/problems/rate-limited")).json()
    assert one["status"] == 429 and "Retry-After" in one["description"]


def _failing_app(city: City, error: Exception) -> FastAPI:
    app = create_app(config(city.url))

    async def fail() -> None:
        raise error

    app.add_api_route("/v1/fail", fail)
    return app


@pytest.mark.parametrize(
    ("error", "status", "slug", "needle"),
    [
        (UsageError("zone", "no such zone 'x'"), 400, "bad-request", "no such zone"),
        (
            SchemaError(
                "read readings",
                "relation missing",
                sqlstate="42P01",
                hint="run `civicpulse db migrate`",
            ),
            503,
            "schema-behind",
            "db migrate",
        ),
        (StorageError("read", "connection lost", retryable=True), 503, "unavailable", None),
        (
            StorageError("read", "canceling statement", sqlstate="57014"),
            503,
            "unavailable",
            "shorter time range",
        ),
        (StorageError("read", "internal detail XYZZY", sqlstate="XX000"), 500, "internal", None),
        (ConfigError("CIVICPULSE_X", "internal detail XYZZY"), 500, "internal", None),
        (RuntimeError("internal detail XYZZY"), 500, "internal", None),
    ],
)
async def test_platform_errors_at_the_edge(
    city: City,
    error: Exception,
    status: int,
    slug: str,
    needle: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(_failing_app(city, error)) as client:
        response = await client.get("/v1/fail")
    body = problem(response, status, slug)
    if needle:
        assert needle in str(body["detail"])
    assert "XYZZY" not in response.text and "Traceback" not in response.text
    if isinstance(error, StorageError) and error.retryable:
        assert response.headers["retry-after"] == "5"
    if status == 500:
        assert "XYZZY" in caplog.text  # the operator finds it in the log


async def test_a_slow_query_is_cut_off(city: City) -> None:
    app = create_app(config(city.url, statement_timeout_ms=200))

    async def slow(conn: ReadConn) -> None:
        from storage.errors import translated

        async with translated("sleep"):
            await conn.execute("SELECT pg_sleep(5)")

    app.add_api_route("/v1/slow", slow)
    async with serving(app) as client:
        response = await client.get("/v1/slow")
    body = problem(response, 503, "unavailable")
    assert "shorter" in str(body["detail"])


async def test_reads_run_as_the_reader_role(city: City) -> None:
    app = create_app(config(city.url))
    roles: list[str] = []

    async def whoami(conn: ReadConn) -> None:
        cur = await conn.execute("SELECT current_user")
        row = await cur.fetchone()
        assert row is not None
        roles.append(str(row[0]))
        await conn.execute("SELECT count(*) FROM smart_meter_readings")  # raw meter data

    app.add_api_route("/v1/whoami", whoami)
    async with serving(app) as client:
        response = await client.get("/v1/whoami")
    assert roles == ["civicpulse_reader"]
    problem(response, 500, "internal")  # permission denied: the role cannot read raw meters


async def test_a_login_role_outside_the_reader_role_fails_at_start(city: City) -> None:
    role = f"cp_test_{uuid.uuid4().hex[:10]}"  # roles belong to the whole server
    async with await connect(city.url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        outsider = make_conninfo(city.url, user=role)
        app = create_app(config(city.url, reader_url=outsider))
        with pytest.raises(StorageError, match="GRANT civicpulse_reader TO"):
            async with serving(app):
                pass
    finally:
        async with await connect(city.url, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_bodies_are_limited(api_client: httpx.AsyncClient) -> None:
    big = b'{"pad": "' + b"x" * 70_000 + b'"}'
    declared = await api_client.post(
        "/v1/alerts/subscriptions", content=big, headers={"Content-Type": "application/json"}
    )
    problem(declared, 413, "too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(70):
            yield b" " * 1000

    streamed = await api_client.post(
        "/v1/alerts/subscriptions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    problem(streamed, 413, "too-large")
