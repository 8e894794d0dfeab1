"""Daily rollups as households x days matrices (the monthly energy run's read), in both storage
modes: exact values in the caller's order, NaN for no data, consent honoured, and the same matrix
whether one connection reads or several share the days."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from devices.registry import Device, validate
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Mode, connect, server_info
from storage.day_matrix import DAYS_PER_QUERY, day_matrix
from storage.migrate import migrate
from storage.registry import upsert
from storage.rollups import refresh_rollups
from storage.writer import Store
from tests.conftest import STORAGE_MODES, database_in_mode

METER = DEVICE_TYPES["smart_meter"]
DAYS = 40
D0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=50)
MISSING = 7  # m-day has no reading that day


@pytest.fixture(params=STORAGE_MODES)
def meters(request: pytest.FixtureRequest, pg_server: str) -> Iterator[str]:
    """Three meters (half-hourly, daily and monthly consent), two readings a day for 40 days."""
    yield from database_in_mode(request.param, pg_server, _load)


async def _load(url: str, timescaledb: str) -> None:
    await migrate(url, timescaledb=timescaledb)  # type: ignore[arg-type]
    devices = [
        Device("m-half", "smart_meter", consent="half_hourly"),
        Device("m-day", "smart_meter", consent="daily"),
        Device("m-month", "smart_meter", consent="monthly"),
    ]
    prepared = Prepared()
    rows = prepared.rows.setdefault("smart_meter", [])
    for day in range(DAYS):
        for at, extra in ((timedelta(hours=12), 0.0), (timedelta(hours=23, minutes=30), 0.5)):
            ts = D0 + timedelta(days=day) + at
            for number, device in enumerate(("m-half", "m-day", "m-month")):
                if device == "m-day" and day == MISSING:
                    continue
                values = {
                    "electricity_import_kwh": 1000.0 * (number + 1) + 10.0 * day + extra,
                    "gas_m3": 50.0 + day + extra if device == "m-half" else None,
                }
                rows.append((device, ts, day, ts, *[values.get(c) for c in METER.columns]))
    async with await connect(url) as conn:
        await upsert(conn, [validate(d, DEVICE_TYPES) for d in devices])
        mode = (await server_info(conn)).mode
    assert mode is not None
    store = await Store.open(url, mode, DEVICE_TYPES)
    try:
        await store.write(prepared)
    finally:
        await store.close()
    if mode is Mode.TIMESCALEDB:
        async with await connect(url, autocommit=True) as conn:
            await refresh_rollups(conn, METER, D0, D0 + timedelta(days=DAYS))


def _read(url: str, readers: int, ids: list[str]) -> dict[str, np.ndarray]:
    async def go() -> dict[str, np.ndarray]:
        conns = [await connect(url, autocommit=True) for _ in range(readers)]
        try:
            return await day_matrix(
                conns,
                METER,
                device_ids=ids,
                start=(D0 - timedelta(days=2)).date(),
                days=DAYS + 4,
                columns=["electricity_import_kwh_max", "gas_m3_max", "electricity_import_kwh_n"],
            )
        finally:
            for conn in conns:
                await conn.close()

    return asyncio.run(go())


def test_a_year_of_daily_rollups_as_matrices(meters: str) -> None:
    assert DAYS + 4 > 2 * DAYS_PER_QUERY  # several blocks of days, so readers share them
    ids = ["m-day", "nobody", "m-month", "m-half"]
    found = _read(meters, 1, ids)
    electricity, gas = found["electricity_import_kwh_max"], found["gas_m3_max"]
    assert electricity.shape == gas.shape == (4, DAYS + 4)
    days = np.arange(DAYS)
    column = days + 2  # the matrix starts two days before the first reading
    expected_day = 2000.0 + 10.0 * days + 0.5  # each day's maximum: its 23:30 reading
    expected_day[MISSING] = np.nan
    np.testing.assert_array_equal(electricity[0, column], expected_day)
    np.testing.assert_array_equal(electricity[3, column], 1000.0 + 10.0 * days + 0.5)
    np.testing.assert_array_equal(gas[3, column], 50.0 + days + 0.5)
    assert np.isnan(gas[0]).all()  # a meter without gas
    counts = found["electricity_import_kwh_n"]
    assert counts[3, column].tolist() == [2.0] * DAYS
    # No data outside the readings' days; none for an unknown device; none for a household
    # that consented to monthly data only.
    for matrix in (electricity, gas):
        assert np.isnan(matrix[:, [0, 1, DAYS + 2, DAYS + 3]]).all()
        assert np.isnan(matrix[1]).all() and np.isnan(matrix[2]).all()
    # Two connections sharing the days read exactly the same.
    both = _read(meters, 2, ids)
    for name, matrix in found.items():
        np.testing.assert_array_equal(both[name], matrix)


def test_bad_columns_and_empty_requests(meters: str) -> None:
    with pytest.raises(ValueError, match="not a rollup column"):
        asyncio.run(_columns(meters, ["gas_m3_median"]))
    empty = asyncio.run(_columns(meters, ["gas_m3_max"], ids=[]))
    assert empty["gas_m3_max"].shape == (0, 3)


async def _columns(
    url: str, columns: list[str], ids: list[str] | None = None
) -> dict[str, np.ndarray]:
    async with await connect(url, autocommit=True) as conn:
        return await day_matrix(
            conn, METER, device_ids=["m-half"] if ids is None else ids, start=D0.date(), days=3,
            columns=columns,
        )  # fmt: skip
