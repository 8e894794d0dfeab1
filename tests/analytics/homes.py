"""A small street of identical flats, with a steady use a day each, for energy tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.nudges import Period
from devices.registry import Device, validate
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Conn, Mode
from storage.registry import upsert
from storage.writer import Store

METER = DEVICE_TYPES["smart_meter"]


def last_month() -> Period:
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return Period.month(f"{previous:%Y-%m}")


async def city(db: str, aconn: Conn, daily_kwh: dict[str, float], period: Period) -> None:
    """Identical flats side by side (one peer group), each using a steady amount a day."""
    homes = [
        Device(
            device,
            "smart_meter",
            latitude=51.54 + i * 0.0003,
            longitude=-0.14,
            consent="daily",
            attributes={
                "household_id": f"hh-{device}",
                "property_type": "flat",
                "floor_area_band": "50-100",
                "heating_fuel": "electric",
            },
        )
        for i, device in enumerate(daily_kwh)
    ]
    # A detached house nowhere near the others: no similar homes.
    homes.append(
        Device(
            "m-lonely",
            "smart_meter",
            latitude=51.60,
            longitude=-0.30,
            consent="daily",
            attributes={
                "household_id": "hh-lonely",
                "property_type": "detached",
                "floor_area_band": ">150",
                "heating_fuel": "gas",
            },
        )
    )
    await upsert(aconn, [validate(d, DEVICE_TYPES) for d in homes])
    start = period.start - timedelta(days=5)
    days = (period.end - start).days + 2
    prepared = Prepared()
    rows = prepared.rows.setdefault("smart_meter", [])
    for device, per_day in {**daily_kwh, "m-lonely": 20.0}.items():
        for k in range(days):
            ts = datetime(start.year, start.month, start.day, 22, 0, tzinfo=UTC) + timedelta(days=k)
            register = 1000.0 + per_day * k
            rows.append(
                (
                    device,
                    ts,
                    k,
                    ts,
                    *[register if c == "electricity_import_kwh" else None for c in METER.columns],
                )
            )
    writer = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await writer.write(prepared)
    finally:
        await writer.close()
