"""A pollution episode in a ward: the zone alert opens with the right band and Defra's advice,
a subscriber receives it once by email (a real SMTP server started by the test), a stuck sensor
is flagged and kept out of the index instead of raising the alarm, and the alert clears after
the episode. The service runs on the real change feed, with a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from alerts.air_quality import AirQuality
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
from tests.smtp_server import Inbox, smtp_server

AQ = DEVICE_TYPES["air_quality"]


def _square(west: float) -> dict[str, object]:
    east = west + 0.05
    return {
        "type": "Polygon",
        "coordinates": [[[west, 51.5], [east, 51.5], [east, 51.6], [west, 51.6], [west, 51.5]]],
    }


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _readings(device: str, start: datetime, minutes: int, no2: Callable[[int], float]) -> Prepared:
    prepared = Prepared()
    prepared.rows["air_quality"] = [
        (
            device,
            start + timedelta(minutes=5 * i),
            i,
            start + timedelta(minutes=5 * i),
            *[no2(i) if c == "no2" else None for c in AQ.columns],
        )
        for i in range(minutes // 5)
    ]
    return prepared


async def _write(db: str, prepared: Prepared) -> None:
    writer = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await writer.write(prepared)
    finally:
        await writer.close()


@contextlib.asynccontextmanager
async def _service(db: str, inbox: Inbox, clock: Clock) -> AsyncIterator[AlertService]:
    dispatcher = Dispatcher({"email": SmtpSender(inbox.url, "alerts@camden.example")})
    service = AlertService(
        ServiceConfig(database_url=db, tick_s=0.2), dispatcher, [AirQuality()], now=clock
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


async def test_a_pollution_episode_alerts_once_and_a_stuck_sensor_is_flagged(
    db: str, aconn: Conn
) -> None:
    await upsert_zones(
        aconn,
        [
            Zone("ward-a", "ward", "Camden Town", _square(-0.20)),
            Zone("ward-b", "ward", "Belsize", _square(-0.10)),
        ],
    )
    monitors = [
        Device(
            "aq-a1",
            "air_quality",
            latitude=51.55,
            longitude=-0.19,
            attributes={"site_type": "roadside"},
        ),
        Device(
            "aq-a2",
            "air_quality",
            latitude=51.56,
            longitude=-0.18,
            attributes={"site_type": "roadside"},
        ),
        Device(
            "aq-b1",
            "air_quality",
            latitude=51.55,
            longitude=-0.09,
            attributes={"site_type": "roadside"},
        ),
    ]
    await upsert(aconn, [validate(d, DEVICE_TYPES) for d in monitors])
    await store.save_rules(
        aconn,
        [
            Rule(
                "zone-daqi",
                "zone_daqi",
                params={"min_level": "moderate", "clear_after_minutes": 30},
            ),
            Rule("sensor-qc", "sensor_flagged"),
        ],
    )
    for zone in ("ward-a", "ward-b"):
        await store.subscribe(
            aconn,
            kinds=["air_quality"],
            channels={"email": f"resident@{zone}.example"},
            zone_id=zone,
        )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    clock = Clock(hour + timedelta(minutes=2))
    start = hour - timedelta(hours=3)
    with smtp_server() as inbox:
        async with _service(db, inbox, clock) as service:
            # Ward A: one roadside monitor reads NO2 at 450 µg/m³ (index 7, High) in the last
            # complete hour; its neighbour stays clean. Ward B's only monitor is stuck at 420.
            await _write(db, _readings("aq-a2", start, 180, lambda i: 35.0 + (i % 5)))
            await _write(
                db,
                _readings(
                    "aq-a1", start, 180, lambda i: 450.0 + (i % 7) if i >= 24 else 40.0 + (i % 3)
                ),
            )
            await _write(db, _readings("aq-b1", start, 180, lambda i: 420.0))
            await _until(lambda: len(inbox.to("resident@ward-a.example")) == 1)
            await asyncio.sleep(1.0)  # any second message would have come by now
            (email,) = inbox.to("resident@ward-a.example")
            assert (
                email["Subject"]
                == "Air pollution is High (index 7) in Camden Town, from nitrogen dioxide at monitor aq-a1"
            )
            body = email.get_payload(decode=True)
            assert isinstance(body, bytes)
            assert (
                "At-risk groups" in body.decode()
                and "reduce strenuous physical exertion" in body.decode()
            )
            # Ward B: nothing about pollution, the sensor is flagged instead.
            assert [m["Subject"] for m in inbox.to("resident@ward-b.example")] == []
            active = {(a.rule_id, a.subject): a for a in await store.active_alerts(aconn)}
            assert active[("zone-daqi", "ward-a")].level == "high"
            assert ("zone-daqi", "ward-b") not in active
            assert "stuck" in active[("sensor-qc", "aq-b1")].message
            # The episode ends: an hour of clean air. The alert waits out its hysteresis.
            clock.at = hour + timedelta(hours=1, minutes=2)
            await _write(db, _readings("aq-a1", hour, 60, lambda i: 30.0 + (i % 4)))
            await _until(
                lambda: any(
                    a.below_since for a in service._active.values() if a.subject == "ward-a"
                )
            )
            assert len(inbox.to("resident@ward-a.example")) == 1
            clock.at = hour + timedelta(hours=1, minutes=40)
            await _until(lambda: len(inbox.to("resident@ward-a.example")) == 2)
            assert inbox.to("resident@ward-a.example")[1]["Subject"].startswith("Cleared: ward-a")
    remaining = {(a.rule_id, a.subject) for a in await store.active_alerts(aconn)}
    assert ("zone-daqi", "ward-a") not in remaining
