"""The device type plugin is the single source of truth for its tables.

``civicpulse db migrate`` creates each type's readings table and rollups from its plugin, and
extends them when a plugin gains a field; these tests fail when the plugins and the applied
schema drift apart, in both storage modes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from civicpulse.errors import SchemaError
from devices.model import DeviceType, FieldSpec, Reading
from devices.types import DEVICE_TYPES, WEATHER
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.migrate import migrate, schema_drift
from storage.rollups import refresh_rollups
from storage.writer import Store
from tests.conftest import TIMESCALEDB_SERVER, create_database, drop_database, needs_timescaledb

# The weather plugin, a release later: it gained a field.
WEATHER_V2 = dataclasses.replace(
    WEATHER,
    fields=(
        *WEATHER.fields,
        FieldSpec(
            "pressure_hpa", "float", "hPa", "Air pressure at station level", "hPa", 800, 1100
        ),
    ),
)


async def _drift(url: str, types: dict[str, DeviceType]) -> list[str]:
    async with await connect(url) as conn:
        return await schema_drift(conn, types)


def _row(device_type: DeviceType, device_id: str, ts: datetime, **values: float) -> Reading:
    return Reading(device_id, device_type.name, ts, None, dict(values))


async def _write(
    url: str, mode: Mode, types: dict[str, DeviceType], readings: list[Reading]
) -> None:
    prepared = Prepared()
    for reading in readings:
        columns = types[reading.device_type].columns
        prepared.rows.setdefault(reading.device_type, []).append(
            (
                reading.device_id,
                reading.ts,
                None,
                reading.ts,
                *[reading.values.get(c) for c in columns],
            )
        )
    store = await Store.open(url, mode, types)
    try:
        await store.write(prepared)
    finally:
        await store.close()
    if mode is Mode.TIMESCALEDB:  # as ingest does after each commit (storage.rollups)
        async with await connect(url, autocommit=True) as conn:
            for reading in readings:
                end = reading.ts + timedelta(hours=1)
                await refresh_rollups(conn, types[reading.device_type], reading.ts, end)


def test_migrated_schema_matches_every_plugin(db: str) -> None:
    assert asyncio.run(_drift(db, DEVICE_TYPES)) == []


def test_drift_is_reported_when_a_plugin_gains_a_field(db: str) -> None:
    types = {**DEVICE_TYPES, "weather": WEATHER_V2}
    assert asyncio.run(_drift(db, types)) == [
        "weather_readings.pressure_hpa is missing",
        *(
            f"weather_{g}.pressure_hpa_{s}" + " is missing"
            for g in ("hourly", "daily")
            for s in ("n", "sum", "min", "max", "avg")
        ),
    ]


async def _gain_a_field(url: str, mode: Mode) -> None:
    """Readings stored under the old plugin, then migrate with the new one and store more."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    await _write(url, mode, DEVICE_TYPES, [_row(WEATHER, "ws-1", hour, temperature_c=5.0)])
    types = {**DEVICE_TYPES, "weather": WEATHER_V2}
    report = await migrate(url, types=types)
    assert report.changes == ("weather_readings: added pressure_hpa, and to its rollups",)
    assert await _drift(url, types) == []
    later = hour + timedelta(minutes=20)
    await _write(
        url,
        mode,
        types,
        [_row(WEATHER_V2, "ws-1", later, temperature_c=7.0, pressure_hpa=1012.5, battery_pct=90)],
    )
    async with await connect(url) as conn:
        cur = await conn.execute(
            "SELECT samples, temperature_c_n, temperature_c_avg, pressure_hpa_n, pressure_hpa_avg"
            " FROM weather_hourly WHERE device_id = 'ws-1'"
        )
        # The old reading counts as missing for the new field; nothing is invented for it.
        assert await cur.fetchall() == [(2, 2, 6.0, 1, 1012.5)]
        cur = await conn.execute(
            "SELECT pressure_hpa, battery_pct FROM weather_readings WHERE device_id = 'ws-1'"
            " ORDER BY ts"
        )
        assert await cur.fetchall() == [(None, None), (1012.5, 90.0)]
        cur = await conn.execute(
            "SELECT pressure_hpa_n FROM weather_daily WHERE device_id = 'ws-1'"
        )
        assert await cur.fetchall() == [(1,)]
    again = await migrate(url, types=types)
    assert again.changes == ()


def test_a_field_added_to_a_plugin_reaches_table_and_rollups(db: str) -> None:
    asyncio.run(_gain_a_field(db, Mode.POSTGRES))


@pytest.mark.parametrize("_", [None], ids=["timescaledb"])
@needs_timescaledb
def test_a_field_added_to_a_plugin_on_timescaledb(_: None) -> None:
    assert TIMESCALEDB_SERVER is not None
    url = create_database(TIMESCALEDB_SERVER)
    try:
        assert asyncio.run(migrate(url, timescaledb="on")).mode is Mode.TIMESCALEDB
        asyncio.run(_gain_a_field(url, Mode.TIMESCALEDB))
        with psycopg.connect(url) as conn:
            # The re-made aggregates have their refresh policies again.
            jobs = conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.jobs"
                " WHERE proc_name = 'policy_refresh_continuous_aggregate'"
                " AND hypertable_name LIKE 'weather_%' ORDER BY 1"
            ).fetchall()
            assert jobs == [("weather_daily",), ("weather_hourly",)]
    finally:
        drop_database(TIMESCALEDB_SERVER, url)


def test_a_field_whose_kind_changed_is_refused(db: str) -> None:
    changed = dataclasses.replace(
        WEATHER,
        fields=tuple(
            dataclasses.replace(f, kind="bool") if f.name == "rainfall_mm" else f
            for f in WEATHER.fields
        ),
    )
    with pytest.raises(SchemaError, match="rainfall_mm is double precision in the database"):
        asyncio.run(migrate(db, types={**DEVICE_TYPES, "weather": changed}))


def test_a_field_removed_from_a_plugin_keeps_its_column(db: str) -> None:
    fewer = dataclasses.replace(
        WEATHER, fields=tuple(f for f in WEATHER.fields if f.name != "rainfall_mm")
    )
    report = asyncio.run(migrate(db, types={**DEVICE_TYPES, "weather": fewer}))
    assert report.changes == (
        "weather_readings.rainfall_mm: no longer a field of weather; kept with its data",
    )
