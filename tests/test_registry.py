"""The registry: geometry, attributes, CSV/GeoJSON round trips, zones, consent views."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta

import orjson
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicpulse.errors import RegistryError
from devices.contract import Limits, telemetry_topic
from devices.geo import GeometryError, contains, polygons
from devices.registry import Device, Zone, memberships, validate
from devices.registry_files import read_csv, read_geojson, write_csv, write_geojson
from devices.sample_city import build
from devices.types import DEVICE_TYPES
from ingest.devices_cache import DeviceCache
from ingest.prepare import InMessage, prepare
from storage.connection import Mode
from storage.migrate import migrate
from storage.migrations import MIGRATIONS, Context
from storage.registry import list_devices, upsert, upsert_zones, zones_of
from storage.writer import Store

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
        [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]],  # a hole
    ],
}


def test_point_in_polygon_with_hole_and_multipolygon() -> None:
    assert contains(SQUARE, 1, 1)
    assert not contains(SQUARE, 5, 5)  # in the hole
    assert not contains(SQUARE, 11, 5)
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
            [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]],
        ],
    }
    assert contains(multi, 0.5, 0.5)
    assert contains(multi, 5.5, 5.5)
    assert not contains(multi, 3, 3)


@given(st.floats(0.01, 9.99), st.floats(0.01, 9.99))
def test_point_in_square_matches_arithmetic(x: float, y: float) -> None:
    in_hole = 4 < x < 6 and 4 < y < 6
    if not (x in (4.0, 6.0) or y in (4.0, 6.0)):
        assert contains(SQUARE, x, y) is not in_hole


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [0, 0]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": "nope"},
    ],
)
def test_bad_zone_geometry(geometry: dict[str, object]) -> None:
    with pytest.raises(GeometryError):
        polygons(geometry)


def test_attributes_are_validated_per_type() -> None:
    meter = validate(
        Device(
            "m1", "smart_meter", attributes={"household_id": "hh-01ab", "occupants_band": "3-4"}
        ),
        DEVICE_TYPES,
    )
    assert meter.consent == "monthly"  # the most private level by default
    bay = validate(
        Device(
            "b1",
            "parking_bay",
            attributes={"max_stay_minutes": "120", "controlled_hours": "Mon-Sat 08:30-18:30"},
        ),
        DEVICE_TYPES,
    )
    assert bay.attributes == {"max_stay_minutes": 120, "controlled_hours": "Mon-Sat 08:30-18:30"}
    for device, message in [
        (
            Device("m1", "smart_meter", attributes={"household_id": "1234567890123"}),
            "looks like a meter point number",
        ),
        (Device("m1", "smart_meter", attributes={"restriction": "residents"}), "does not apply"),
        (Device("b1", "parking_bay", attributes={"controlled_hours": "daytime"}), "write like"),
        (Device("a1", "air_quality", attributes={"inlet_height_m": 99}), "between 0 and 50"),
    ]:
        with pytest.raises(RegistryError, match=message):
            validate(device, DEVICE_TYPES)


def test_csv_and_geojson_round_trip() -> None:
    city = build(homes=20, bays=15, monitors=4)
    devices = [validate(d, DEVICE_TYPES) for d in city.devices]
    assert read_csv(io.StringIO(write_csv(devices)), DEVICE_TYPES) == devices
    again_devices, again_zones = read_geojson(write_geojson(devices, city.zones), DEVICE_TYPES)
    assert again_devices == devices
    assert again_zones == list(city.zones)


def test_geojson_errors_name_the_feature() -> None:
    document = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-0.1, 51.5]},
                "properties": {"device_id": "a1", "device_type": "air_quality"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-0.1, 51.5]},
                "properties": {"device_id": "a2", "device_type": "air_quality", "colour": "red"},
            },
        ],
    }
    with pytest.raises(RegistryError, match=r"feature 1: .*colour"):
        read_geojson(orjson.dumps(document), DEVICE_TYPES)


def test_memberships_by_geometry_and_explicit() -> None:
    zones = [Zone("z-square", "ward", "Square", SQUARE), Zone("z-named", "other", "Named")]
    devices = [
        Device("inside", "weather", latitude=1, longitude=1),
        Device("hole", "weather", latitude=5, longitude=5, zones=("z-named",)),
        Device("nowhere", "weather"),
    ]
    assert sorted(memberships(devices, zones)) == [
        ("hole", "z-named", "explicit"),
        ("inside", "z-square", "geometry"),
    ]


async def test_registry_in_the_database(aconn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    city = build(homes=10, bays=10, monitors=3)
    await upsert_zones(aconn, city.zones)
    devices = [validate(d, DEVICE_TYPES) for d in city.devices]
    await upsert(aconn, devices)
    assert await list_devices(aconn) == sorted(devices, key=lambda d: d.device_id)
    membership = await zones_of(aconn)
    assert all("aqma-camden" in membership[d.device_id] for d in devices)
    # Moving a device moves its zones; an explicit zone is kept.
    moved = Device(
        "cam-wx-001",
        "weather",
        latitude=51.5200,
        longitude=-0.2100,
        installed_on=date(2026, 1, 5),
        zones=("rooftops",),
    )
    await upsert(aconn, [moved])
    zones_now = (await zones_of(aconn))["cam-wx-001"]
    assert "rooftops" in zones_now
    assert "ward-holborn-covent-garden" not in zones_now
    assert "ward-west-hampstead" in zones_now


def test_migration_3_turns_old_zone_labels_into_zones(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE civicpulse_meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute("INSERT INTO civicpulse_meta VALUES ('mode', 'postgres')")
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " mode text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements(Context(Mode.POSTGRES)):
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, mode) VALUES (%s, %s, 'postgres')",
                (migration.version, migration.name),
            )
        conn.execute(
            "INSERT INTO devices (device_id, device_type, zone) VALUES"
            " ('a1', 'air_quality', 'ward-7'), ('a2', 'air_quality', NULL)"
        )
    report = asyncio.run(migrate(empty_db))
    assert report.applied == tuple(m.version for m in MIGRATIONS[2:])
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT device_id, zone_id, source FROM device_zones").fetchall() == [
            ("a1", "ward-7", "explicit")
        ]
        assert conn.execute("SELECT kind FROM zones WHERE zone_id = 'ward-7'").fetchone() == (
            "other",
        )


async def test_meter_data_is_readable_only_at_the_consented_granularity(
    db: str, aconn: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    meters = [
        Device(f"m-{c}", "smart_meter", consent=c) for c in ("monthly", "daily", "half_hourly")
    ]
    await upsert(aconn, [validate(d, DEVICE_TYPES) for d in meters])
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    messages = [
        InMessage(
            telemetry_topic(m.device_id),
            orjson.dumps(
                {
                    "ts": (start + timedelta(minutes=30 * i)).isoformat(),
                    "electricity_import_kwh": 100 + i * 0.4,
                }
            ),
            i,
            1,
            0,
            datetime.now(UTC).timestamp(),
        )
        for m in meters
        for i in range(48)
    ]
    store = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    cache = DeviceCache(DEVICE_TYPES)
    await cache.resolve(store.connection, [m.topic for m in messages])
    await store.write(prepare(messages, cache.lookup, Limits(), DEVICE_TYPES))
    await store.close()

    async def devices_in(view: str) -> list[str]:
        cur = await aconn.execute(f"SELECT DISTINCT device_id FROM {view} ORDER BY 1")
        return [str(r[0]) for r in await cur.fetchall()]

    assert await devices_in("smart_meter_readings_permitted") == ["m-half_hourly"]
    assert await devices_in("smart_meter_hourly_permitted") == ["m-half_hourly"]
    assert await devices_in("smart_meter_daily_permitted") == ["m-daily", "m-half_hourly"]
    assert await devices_in("smart_meter_monthly_permitted") == [
        "m-daily",
        "m-half_hourly",
        "m-monthly",
    ]


def test_the_reader_role_sees_meter_data_only_through_consent(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SET ROLE civicpulse_reader")
        for allowed in (
            "smart_meter_daily_permitted",
            "smart_meter_monthly_permitted",
            "air_quality_hourly",
            "parking_bay_readings",
            "devices",
            "device_zones",
        ):
            conn.execute(f"SELECT count(*) FROM {allowed}")
        for restricted in (
            "smart_meter_readings",
            "smart_meter_hourly",
            "smart_meter_daily",
            "device_credentials",
            "quarantine",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {restricted}")
