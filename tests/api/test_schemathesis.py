"""Property-based tests against the OpenAPI document (schemathesis's Python API on the ASGI
app): for requests generated from each operation's schema, valid ones and invalid ones, the API
answers no 5xx, only documented statuses, media types and headers, and bodies that match their
schemas; invalid requests are refused.

Bounded: ``MAX_EXAMPLES`` examples per operation and mode, derandomised (the same cases every
run), so the whole run stays well under a minute. Requests carry an admin key; the
authorisation matrix covers the other scopes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi

from api import create_app
from tests.api.city import City
from tests.api.conftest import _city, bearer, config

MAX_EXAMPLES = 10
_DOCUMENT = create_app(config("postgresql://unused@localhost/unused")).openapi()
# "known": valid requests whose path names the city's own resources (generated ids rarely
# exist, so these reach the code behind the 404s).
CASES = [
    (method.upper(), path, mode)
    for path, item in _DOCUMENT["paths"].items()
    for method, op in item.items()
    for mode in ("positive", "negative", "known")
    if mode == "positive"
    # Without parameters or a body there is nothing to make invalid.
    or (mode == "negative" and (op.get("parameters") or op.get("requestBody")))
    # A stream of a zone that exists never ends: tests/api/test_live.py covers those.
    or (mode == "known" and "{" in path and "{token}" not in path and "/stream" not in path)
]


def known(city: City) -> dict[str, object]:
    return {
        "device_id": "aq-1",
        "entity_id": "urn:ngsi-ld:ParkingSpot:bay-1",
        "zone_id": "ward-a",
        "alert_id": city.alert_ids["zone"],
        "slug": "rate-limited",
    }


@pytest.fixture(scope="module")
def fuzz_city(pg_server: str) -> Iterator[City]:
    """Its own city: generated requests subscribe and acknowledge."""
    yield from _city(pg_server)


@pytest.fixture(scope="module")
def api_schema(fuzz_city: City) -> Iterator[Any]:
    app = create_app(config(fuzz_city.url))
    # Schemathesis runs the app, and its lifespan, on an event loop thread of its own.
    loaded = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    # What the schema cannot say: a cursor must be one the API handed out (else 400), and a
    # subscription's zone must exist (else 422). Everything else valid must be accepted.
    loaded.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx",
        "400",
        "401",
        "403",
        "404",
        "409",
        "422",
        "429",
    ]
    try:
        yield loaded
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms(
    api_schema: Any, fuzz_city: City, method: str, path: str, mode: str
) -> None:
    operation = api_schema[path][method]
    key = bearer(fuzz_city.keys["admin"])
    calls: list[int] = []
    if mode == "known":
        pinned = {k: v for k, v in known(fuzz_city).items() if "{" + k + "}" in path}
        strategy = operation.as_strategy(path_parameters=pinned)
    else:
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(headers=key)
        calls.append(response.status_code)

    check()
    assert calls, "no request was generated"
