"""The alert service on the real change feed: an alert opens once when committed data says so,
reaches a subscriber once by email (a real SMTP server started by the test), clears with
hysteresis, and a restart neither forgets nor repeats it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from alerts.evaluators import DeviceHealth
from alerts.service import AlertService, ServiceConfig
from delivery.channels import SmtpSender
from delivery.dispatch import Dispatcher
from devices.model import StatusChange
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage import alerts as store
from storage.alerts import Rule
from storage.batch import Prepared
from storage.connection import Conn, Mode
from storage.registry import upsert, upsert_zones
from storage.writer import Store
from tests.smtp_server import Inbox, smtp_server

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-0.2, 51.5], [-0.1, 51.5], [-0.1, 51.6], [-0.2, 51.6], [-0.2, 51.5]]],
}


@contextlib.asynccontextmanager
async def _service(db: str, inbox: Inbox) -> AsyncIterator[AlertService]:
    dispatcher = Dispatcher({"email": SmtpSender(inbox.url, "alerts@camden.example")})
    service = AlertService(
        ServiceConfig(database_url=db, tick_s=0.2), dispatcher, [DeviceHealth(DEVICE_TYPES)]
    )
    task = asyncio.create_task(service.run())
    try:
        assert await service.wait_ready(30)
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)


async def _until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _write(db: str, prepared: Prepared) -> None:
    writer = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await writer.write(prepared)
    finally:
        await writer.close()


def _reading(device_id: str, at: datetime) -> Prepared:
    columns = DEVICE_TYPES["air_quality"].columns
    prepared = Prepared()
    prepared.rows["air_quality"] = [
        (device_id, at, 1, at, *[12.0 if c == "no2" else None for c in columns])
    ]
    return prepared


async def test_an_offline_device_alerts_once_clears_and_survives_a_restart(
    db: str, aconn: Conn
) -> None:
    await upsert_zones(aconn, [Zone("ward-1", "ward", "Ward One", SQUARE)])
    await upsert(
        aconn,
        [validate(Device("aq-7", "air_quality", latitude=51.55, longitude=-0.15), DEVICE_TYPES)],
    )
    await store.save_rules(
        aconn, [Rule("offline", "device_offline", params={"clear_after_minutes": 0.02})]
    )
    await store.subscribe(
        aconn,
        kinds=["device_health"],
        channels={"email": "officer@camden.example"},
        zone_id="ward-1",
    )
    now = datetime.now(UTC)
    await _write(db, _reading("aq-7", now - timedelta(minutes=1)))
    with smtp_server() as inbox:
        async with _service(db, inbox) as service:
            assert await store.active_alerts(aconn) == []
            # Its last will: the device went away. The feed carries the committed status.
            await _write(db, Prepared(statuses=[StatusChange("aq-7", False, datetime.now(UTC))]))
            await _until(lambda: len(inbox.messages) == 1)
            (alert,) = await store.active_alerts(aconn)
            assert (alert.subject, alert.level, alert.zone_id) == ("aq-7", "offline", "ward-1")
            assert "went offline" in inbox.messages[0]["Subject"]
        # A restart: the open alert is remembered, not announced again.
        async with _service(db, inbox) as service:
            await asyncio.sleep(1.0)
            assert len(inbox.messages) == 1
            assert [a.alert_id for a in await store.active_alerts(aconn)] == [alert.alert_id]
            # Back: readings again. It clears after the (short) hysteresis, announced once.
            await _write(db, _reading("aq-7", datetime.now(UTC)))
            await _until(lambda: len(inbox.messages) == 2)
            assert inbox.messages[1]["Subject"].startswith("Cleared: aq-7")
            assert service.stats.announced == 1
    assert await store.active_alerts(aconn) == []
    assert alert.alert_id is not None
    history = [action for _, action, _, _ in await store.events(aconn, alert.alert_id)]
    assert history[0] == "opened" and history[-1] == "resolved"
