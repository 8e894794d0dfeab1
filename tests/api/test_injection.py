"""SQL injection on every filter and path parameter. Values are bound, never formatted into
SQL: hostile text is refused by validation (422/400) or, when it fits a parameter's shape, is
looked up literally and finds nothing. The database stays whole, and no answer holds more than a
request for a value that matches nothing."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import parse_qsl, quote

import httpx
import pytest

from api import create_app
from storage import registry
from storage.connection import connect
from tests.api.city import City
from tests.api.conftest import bearer, config, serving

HOSTILE = [
    "' OR '1'='1",
    "x' OR 1=1 --",
    "'; DROP TABLE devices; --",
    "ward-a' UNION SELECT hash, name FROM api_keys --",
    "1; SELECT pg_sleep(5)",
    "%' OR device_id LIKE '%",
    '" OR ""="',
    "$$; DELETE FROM alerts; $$",
    "ward-a\x00",
]
# Fit the id shape (letters, digits, . _ : -), so they reach the database.
SHAPED = ["ward-a--", "aq-1--", "--", "a:b.c-1", "1-1"]
# (path, query parameter): the payload goes in the parameter, or in the path's `{}`.
TARGETS = [
    ("/v1/devices", "zone"),
    ("/v1/devices", "type"),
    ("/v1/devices", "cursor"),
    ("/v1/devices", "limit"),
    ("/v1/devices/{}", None),
    ("/v1/devices/{}/readings", None),
    ("/v1/devices/aq-1/readings", "start"),
    ("/v1/devices/aq-1/readings", "end"),
    ("/v1/devices/aq-1/readings", "cursor"),
    ("/v1/devices/aq-1/readings", "format"),
    ("/v1/devices/{}/latest", None),
    ("/v1/devices/{}/rollups", None),
    ("/v1/devices/aq-1/rollups", "grain"),
    ("/v1/device-health", "zone"),
    ("/v1/device-health", "state"),
    ("/v1/zones", "kind"),
    ("/v1/zones/{}", None),
    ("/v1/zones/{}/rollups/air_quality", None),
    ("/v1/zones/ward-a/rollups/{}", None),
    ("/v1/alerts", "zone"),
    ("/v1/alerts", "state"),
    ("/v1/alerts", "since"),
    ("/v1/alerts", "cursor"),
    ("/v1/alerts/{}", None),
    ("/v1/problems/{}", None),
    ("/v1/parking/availability", "zone"),
    ("/v1/parking/availability", "by"),
    ("/v1/parking/zones/{}/availability", None),
    ("/v1/parking/zones/{}/occupancy", None),
    ("/v1/parking/zones/pz-a1/occupancy", "start"),
    ("/v1/parking/zones/{}/forecast", None),
    ("/v1/parking/bays?lat=51.53", "lon"),
    ("/v1/parking/bays?lon=-0.15&lat=51.53", "status"),
    ("/v1/air-quality/monitors/{}", None),
    ("/v1/air-quality/monitors/{}/daqi", None),
    ("/v1/air-quality/monitors/aq-1/daqi", "start"),
    ("/v1/air-quality/monitors/{}/compliance", None),
    ("/v1/air-quality/zones/{}", None),
    ("/v1/ngsi-ld/v1/entities", "type"),
    ("/v1/ngsi-ld/v1/entities?type=ParkingSpot", "id"),
    ("/v1/ngsi-ld/v1/entities/{}", None),
    # A zone that exists would stream forever; none of the payloads is one.
    ("/v1/parking/zones/{}/availability/stream", None),
    ("/v1/alerts/zones/{}/stream", None),
]
COUNTS = ("devices", "zones", "alerts", "api_keys", "alert_subscriptions", "air_quality_readings")


async def _counts(url: str) -> dict[str, int]:
    out = {}
    async with await connect(url, autocommit=True) as conn:
        for table in COUNTS:
            cur = await conn.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
            assert row is not None
            out[table] = int(str(row[0]))
    return out


async def _get(
    client: httpx.AsyncClient, path: str, param: str | None, value: str, key: str
) -> httpx.Response:
    if param is None:
        return await client.get(path.format(quote(value, safe="")), headers=bearer(key))
    base, _, fixed = path.partition("?")  # a target's own query stays (httpx would replace it)
    return await client.get(
        base, params={**dict(parse_qsl(fixed)), param: value}, headers=bearer(key)
    )


@pytest.mark.parametrize(("path", "param"), TARGETS, ids=lambda t: str(t))
async def test_filters_bind_their_values(
    api_client: httpx.AsyncClient, city: City, path: str, param: str | None
) -> None:
    before = await _counts(city.url)
    key = city.keys["admin"]
    nothing = await _get(api_client, path, param, "nothing-here", key)
    for payload in HOSTILE + SHAPED:
        response = await _get(api_client, path, param, payload, key)
        assert response.status_code < 500, (payload, response.text)
        text = response.text.lower()
        assert "syntax error" not in text and "sha256:" not in text
        if response.status_code == 200:
            # Found literally, as "nothing-here" is: the same answer but for the value itself.
            assert response.content.replace(payload.encode(), b"X") == nothing.content.replace(
                b"nothing-here", b"X"
            ), (payload, response.text)
        elif payload in HOSTILE:
            assert response.status_code in (400, 404, 422), (payload, response.status_code)
    assert await _counts(city.url) == before


async def test_the_storage_layer_binds_what_validation_would_refuse(city: City) -> None:
    """Below the API's validation, the same hostile text is still only a value."""
    async with await connect(city.url, autocommit=True) as conn:
        for payload in HOSTILE[:-1]:  # (NUL cannot travel in PostgreSQL text at all)
            assert await registry.list_devices(conn, zone=payload) == []
            assert await registry.device_types(conn, [payload]) == []


def test_the_api_writes_no_sql_of_its_own_from_strings() -> None:
    """Every ``execute`` in ``api/`` gets a literal or a ``psycopg.sql`` composition, never an
    f-string or ``%``/``+`` formatting: values can only be bound."""
    root = Path(__file__).resolve().parents[2] / "api"
    offenders = []
    for source in root.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "execute"
                and node.args
                and not isinstance(node.args[0], ast.Constant)
                and not ast.unparse(node.args[0]).startswith("sql.SQL(")
            ):
                offenders.append(f"{source.name}:{node.lineno}")
    assert not offenders


async def test_subscription_body_binds_its_values(fresh_city: City) -> None:
    before = await _counts(fresh_city.url)
    made = 0
    async with serving(create_app(config(fresh_city.url))) as client:
        for payload in HOSTILE + SHAPED:
            refused = await client.post(
                "/v1/alerts/subscriptions",
                json={"area": {"zone_id": payload}, "channels": {"email": "a@example.org"}},
            )
            assert refused.status_code == 422, (payload, refused.text)
            topic = f"alerts/{payload}"
            stored = await client.post(
                "/v1/alerts/subscriptions",
                json={"area": {"zone_id": "ward-a"}, "channels": {"mqtt": topic}},
            )
            valid = not any(c in payload for c in "#+\x00")
            assert stored.status_code == (201 if valid else 422), (payload, stored.text)
            made += valid
            gone = await client.delete(f"/v1/alerts/subscriptions/{quote(payload, safe='')}")
            assert gone.status_code in (404, 422)
    after = await _counts(fresh_city.url)
    assert after.pop("alert_subscriptions") - before.pop("alert_subscriptions") == made
    assert after == before
    async with await connect(fresh_city.url, autocommit=True) as conn:
        cur = await conn.execute("SELECT channels->>'mqtt' FROM alert_subscriptions")
        topics = {str(r[0]) for r in await cur.fetchall()}
    assert "alerts/'; DROP TABLE devices; --" in topics  # stored as the text it is
