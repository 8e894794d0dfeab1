"""Parking on stored readings: availability per zone and street, bays near a point, hourly
occupancy and the next-hour forecast, as the parking analytics define them."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api import create_app
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage.connection import connect
from storage.migrate import migrate
from storage.registry import upsert, upsert_zones
from tests.api.conftest import config, serving
from tests.api.test_live import write_bays
from tests.conftest import create_database, drop_database

ZONE = "cpz-p"
INNER = {
    "type": "Polygon",
    "coordinates": [
        [[-0.15, 51.54], [-0.14, 51.54], [-0.14, 51.55], [-0.15, 51.55], [-0.15, 51.54]]
    ],
}
OTHER = {
    "type": "Polygon",
    "coordinates": [
        [[-0.12, 51.54], [-0.11, 51.54], [-0.11, 51.55], [-0.12, 51.55], [-0.12, 51.54]]
    ],
}


@dataclass(frozen=True, slots=True)
class Street:
    url: str
    hour: datetime
    """The hour the data were written in (whole hours before it are history)."""


def _bay(number: int, lon: float, street: str) -> Device:
    return validate(
        Device(
            f"bay-{number}",
            "parking_bay",
            f"Bay {number}",
            latitude=51.545,
            longitude=lon,
            attributes={
                "bay_id": f"B{number}",
                "street": street,
                "parking_zone": "CA-P",
                "restriction": "pay_and_display",
                "max_stay_minutes": 120,
                "controlled_hours": "Mon-Sat 08:30-18:30",
            },
        ),
        DEVICE_TYPES,
    )


async def _build(url: str) -> Street:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    async with await connect(url, autocommit=True) as conn:
        await upsert_zones(
            conn,
            [
                Zone(ZONE, "parking_zone", "CPZ P", INNER),
                Zone("cpz-o", "parking_zone", "CPZ O", OTHER),
            ],
        )
        await upsert(
            conn,
            [
                _bay(1, -0.1450, "Agar Grove"),
                _bay(2, -0.1440, "Agar Grove"),
                _bay(3, -0.1430, "Parkway"),  # never heard from
                _bay(4, -0.1150, "Parkway"),  # in the other zone
            ],
        )
    h = timedelta(hours=1)
    await write_bays(
        url,
        {
            # Free, occupied from 30 minutes into the first hour until the second, free since.
            "bay-1": [
                (hour - 3 * h, False),
                (hour - 3 * h + timedelta(minutes=30), True),
                (hour - 2 * h, False),
                (hour - h, False),
                (now - timedelta(minutes=5), False),
            ],
            # Occupied all along, with heartbeats.
            "bay-2": [
                (hour - 3 * h, True),
                (hour - 2 * h, True),
                (hour - h, True),
                (now - timedelta(minutes=5), True),
            ],
            "bay-4": [(now - timedelta(minutes=5), False)],
        },
    )
    return Street(url, hour)


@pytest.fixture(scope="module")
def street(pg_server: str) -> Iterator[Street]:
    url = create_database(pg_server)
    try:
        asyncio.run(migrate(url, timescaledb="off"))
        yield asyncio.run(_build(url))
    finally:
        drop_database(pg_server, url)


@pytest.fixture
async def client(street: Street) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(config(street.url))) as api:
        yield api


def _counts(body: dict[str, object]) -> tuple[object, ...]:
    return tuple(body[k] for k in ("free", "occupied", "unknown", "closed", "total"))


async def test_availability_per_zone_and_street(client: httpx.AsyncClient) -> None:
    zone = await client.get(f"/v1/parking/zones/{ZONE}/availability")
    assert zone.status_code == 200
    body = zone.json()
    assert (body["zone_id"], body["name"], _counts(body)) == (ZONE, "CPZ P", (1, 1, 1, 0, 3))
    assert datetime.fromisoformat(body["changed_at"]).utcoffset() == timedelta(0)
    assert zone.headers["etag"] and zone.headers["cache-control"] == "public, max-age=60"
    by_zone = (await client.get("/v1/parking/availability")).json()
    assert by_zone["by"] == "zone"
    assert {r["group"]: _counts(r) for r in by_zone["items"]} == {
        ZONE: (1, 1, 1, 0, 3),
        "cpz-o": (1, 0, 0, 0, 1),
    }
    streets = (await client.get("/v1/parking/availability?by=street")).json()
    assert {r["group"]: _counts(r) for r in streets["items"]} == {
        "Agar Grove": (1, 1, 0, 0, 2),
        "Parkway": (1, 0, 1, 0, 2),
    }
    in_zone = await client.get(f"/v1/parking/availability?by=street&zone={ZONE}&format=csv")
    rows = list(csv.reader(io.StringIO(in_zone.text)))
    assert rows == [
        ["group", "name", "free", "occupied", "unknown", "closed", "total"],
        ["Agar Grove", "", "1", "1", "0", "0", "2"],
        ["Parkway", "", "0", "0", "1", "0", "1"],
    ]
    missing = await client.get("/v1/parking/zones/no-such-zone/availability")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_bays_near_a_point(client: httpx.AsyncClient) -> None:
    near = await client.get("/v1/parking/bays?lon=-0.1450&lat=51.545&radius_m=200")
    assert near.status_code == 200
    assert near.headers["content-type"] == "application/geo+json"
    features = near.json()["features"]
    # Nearest first; bay-4 is 2 km away.
    assert [(f["id"], f["properties"]["status"]) for f in features] == [
        ("bay-1", "free"),
        ("bay-2", "occupied"),
        ("bay-3", "unknown"),
    ]
    first = features[0]
    assert first["geometry"] == {"type": "Point", "coordinates": [-0.145, 51.545]}
    props = first["properties"]
    assert props["distance_m"] == 0.0 and props["street"] == "Agar Grove"
    assert props["zones"] == [ZONE] and props["max_stay_minutes"] == 120
    assert 69 < features[1]["properties"]["distance_m"] < 70  # 0.001° of longitude at 51.5°N
    free = (await client.get("/v1/parking/bays?lon=-0.1450&lat=51.545&status=free")).json()
    assert [f["id"] for f in free["features"]] == ["bay-1"]
    refused = await client.get("/v1/parking/bays?lon=-0.1450&lat=151")
    assert refused.status_code == 422


async def test_hourly_occupancy(client: httpx.AsyncClient, street: Street) -> None:
    h = timedelta(hours=1)
    response = await client.get(
        f"/v1/parking/zones/{ZONE}/occupancy",
        params={"start": (street.hour - 4 * h).isoformat(), "end": (street.hour - h).isoformat()},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["bays"] == 3
    assert [
        (i["occupancy"], i["occupied_bay_hours"], i["observed_bay_hours"]) for i in body["items"]
    ] == [
        (None, 0.0, 0.0),  # before any reading: observed by no one
        (0.75, 1.5, 2.0),  # bay-1 half the hour, bay-2 all of it; bay-3 never heard from
        (0.5, 1.0, 2.0),
    ]
    assert [i["hour"] for i in body["items"]] == [
        (street.hour - k * h).isoformat() for k in (4, 3, 2)
    ]
    too_long = await client.get(
        f"/v1/parking/zones/{ZONE}/occupancy",
        params={"start": (street.hour - 40 * 24 * h).isoformat()},
    )
    assert too_long.status_code == 400


async def test_next_hour_forecast(client: httpx.AsyncClient, street: Street) -> None:
    body = (await client.get(f"/v1/parking/zones/{ZONE}/forecast")).json()
    assert _counts(body["now"]) == (1, 1, 1, 0, 3)
    # Three hours of history say nothing about the slot an hour from now: the profile has no
    # value there, so the forecast keeps today's occupancy (1 of the 2 bays known).
    assert (body["expected_free"], body["expected_occupancy"]) == (1.0, 0.5)
    assert 0.0 <= body["persistence"] <= 1.0
    at = datetime.fromisoformat(body["at"])
    assert datetime.fromisoformat(body["target"]) - at == timedelta(hours=1)
    assert datetime.fromisoformat(body["training_end"]) == at.replace(
        minute=0, second=0, microsecond=0
    )
