"""Parking on the real change feed: live availability per zone and street, an overstay alert
when a vehicle passes its bay's maximum stay plus grace (by a timer, without a new reading),
received once by email (a real SMTP server started by the test), cleared when it leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from alerts.parking import Parking
from alerts.service import AlertService, ServiceConfig
from delivery.channels import SmtpSender
from delivery.dispatch import Dispatcher
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage import alerts as store
from storage.alerts import Rule
from storage.batch import Prepared
from storage.connection import Conn, Mode
from storage.registry import upsert, upsert_zones
from storage.writer import Store
from tests.smtp_server import smtp_server

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-0.2, 51.5], [-0.1, 51.5], [-0.1, 51.6], [-0.2, 51.6], [-0.2, 51.5]]],
}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _bay(device: str, occupied: list[tuple[datetime, bool]]) -> Prepared:
    columns = DEVICE_TYPES["parking_bay"].columns
    prepared = Prepared()
    prepared.rows["parking_bay"] = [
        (device, ts, i, ts, *[value if c == "occupied" else None for c in columns])
        for i, (ts, value) in enumerate(occupied)
    ]
    return prepared


async def _write(db: str, prepared: Prepared) -> None:
    writer = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await writer.write(prepared)
    finally:
        await writer.close()


async def _until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _service(
    db: str, url: str, clock: Clock, parking: Parking
) -> AsyncIterator[AlertService]:
    service = AlertService(
        ServiceConfig(database_url=db, tick_s=0.2),
        Dispatcher({"email": SmtpSender(url, "parking@camden.example")}),
        [parking],
        now=clock,
    )
    task = asyncio.create_task(service.run())
    try:
        assert await service.wait_ready(30)
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)


async def test_overstay_alert_by_timer_and_live_availability(db: str, aconn: Conn) -> None:
    await upsert_zones(aconn, [Zone("cpz-x", "parking_zone", "CPZ X", SQUARE)])
    bays = [
        Device(
            f"bay-{i}",
            "parking_bay",
            latitude=51.55,
            longitude=-0.15 + i / 1000,
            attributes={
                "bay_id": f"B{i}",
                "street": "Camden High Street",
                "parking_zone": "cpz-x",
                "max_stay_minutes": 120,
                "controlled_hours": "24/7",
            },
        )
        for i in range(3)
    ]
    await upsert(aconn, [validate(d, DEVICE_TYPES) for d in bays])
    await store.save_rules(
        aconn, [Rule("overstay", "bay_overstay", params={"clear_after_minutes": 1})]
    )
    await store.subscribe(
        aconn, kinds=["parking"], channels={"email": "warden@camden.example"}, zone_id="cpz-x"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    arrived = now - timedelta(minutes=100)
    clock = Clock(now)
    parking = Parking()
    with smtp_server() as inbox:
        # bay-0: parked 100 minutes ago (heartbeats since); bay-1 free; bay-2 never heard from.
        beats = [(arrived + timedelta(minutes=m), True) for m in (0, 30, 60, 90)]
        await _write(db, _bay("bay-0", beats))
        await _write(db, _bay("bay-1", [(now - timedelta(minutes=20), False)]))
        async with _service(db, inbox.url, clock, parking) as service:
            zone = parking.availability("zone")["cpz-x"]
            assert (zone.free, zone.occupied, zone.unknown) == (1, 1, 1)
            street = parking.availability("street")["Camden High Street"]
            assert street.total == 3
            # 120 minutes + 10 minutes' grace after arrival: no new reading needed.
            clock.at = arrived + timedelta(minutes=131)
            await _until(lambda: len(inbox.messages) == 1)
            assert inbox.messages[0]["Subject"].startswith(
                "Bay B0 on Camden High Street has been occupied since"
            )
            (alert,) = await store.active_alerts(aconn)
            assert (alert.subject, alert.level, alert.zone_id) == ("bay-0", "overstay", "cpz-x")
            # The vehicle leaves: once the departure is confirmed (debounce), the alert clears.
            clock.at = arrived + timedelta(minutes=133)
            await _write(db, _bay("bay-0", [(clock.at, False)]))
            clock.at = arrived + timedelta(minutes=136)
            await _until(lambda: any(a.below_since for a in service.active.values()))
            assert len(inbox.messages) == 1  # cleared, but held for its hysteresis minute
            clock.at = arrived + timedelta(minutes=138)
            await _until(lambda: len(inbox.messages) == 2)
            assert inbox.messages[1]["Subject"].startswith("Cleared: bay-0")
            zone = parking.availability("zone")["cpz-x"]
            assert (zone.free, zone.occupied) == (2, 0)
    assert await store.active_alerts(aconn) == []
