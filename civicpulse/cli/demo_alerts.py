"""The demo's alerts tour: a pollution episode in a ward, a stuck sensor, an overstaying car.

Everything goes the real way: readings are published over MQTT, stored by ingest, and the alert
service sees them on the change feed; emails go through SMTP to the demo's local mail catcher.
Only the alert service's clock is scripted (the episode is placed a few hours back, so the tour
need not wait an hour for an hourly mean, nor half an hour for an alert to clear).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from alerts.air_quality import AirQuality
from alerts.evaluators import Evaluator
from alerts.parking import Parking
from alerts.service import AlertService, ServiceConfig
from civicpulse.embedded.mail import MailCatcher
from delivery.channels import SmtpSender
from delivery.dispatch import Dispatcher
from devices.contract import telemetry_topic
from devices.registry import Device, Zone, validate
from devices.sample_city import zones
from devices.types import DEVICE_TYPES
from storage import alerts as store
from storage.alerts import Rule
from storage.connection import connect
from storage.registry import upsert

Publish = Callable[[list[tuple[str, bytes]]], Awaitable[None]]


class _Clock:
    """The alert service's clock, moved by the tour."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _centre(zone: Zone) -> tuple[float, float]:
    ring: Sequence[Sequence[float]] = zone.geometry["coordinates"][0]  # type: ignore[index]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2


def _batch(device: str, start: datetime, values: Sequence[dict[str, Any]]) -> tuple[str, bytes]:
    """One device's readings every 5 minutes from ``start``, as one contract batch."""
    body = [
        {"ts": (start + timedelta(minutes=5 * i)).isoformat(), "seq": i + 1, **v}
        for i, v in enumerate(values)
    ]
    return telemetry_topic(device), orjson.dumps(body)


def _air(no2: float, i: int = 0) -> dict[str, Any]:
    """A monitor's reading; the other pollutants wander a little, as real ones do (a sensor
    that repeats itself exactly is stuck, and quality control says so)."""
    return {"no2": no2, "pm25": 8.0 + i % 3, "pm10": 14.0 + i % 4, "o3": 40.0 + i % 5}


async def _until(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@contextlib.asynccontextmanager
async def _service(
    database_url: str, mail: MailCatcher, clock: _Clock, evaluator: Evaluator
) -> AsyncIterator[AlertService]:
    service = AlertService(
        ServiceConfig(database_url=database_url, tick_s=0.2),
        Dispatcher({"email": SmtpSender(mail.url, "CivicPulse alerts <alerts@civicpulse.demo>")}),
        [evaluator],
        now=clock,
    )
    task = asyncio.create_task(service.run())
    try:
        if not await service.wait_ready(30):
            raise RuntimeError("the alert service did not start")
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)


def _text(message: Any) -> str:
    body = message.get_body(preferencelist=("plain",))
    return f"{message['Subject']}\n{body.get_content() if body is not None else ''}"


def _about(messages: Sequence[Any], device_id: str) -> list[Any]:
    """The messages that name ``device_id``."""
    return [m for m in messages if device_id in _text(m)]


def _show(message: Any, lines: int) -> None:
    print(f"    To: {message['To']}")
    print(f"    Subject: {message['Subject']}")
    for line in [t for t in _text(message).splitlines()[1:] if t.strip()][:lines]:
        print(f"    | {line}")


async def alerts_tour(database_url: str, publish: Publish, prefix: str, mail: MailCatcher) -> bool:
    """Run the tour; False (having said why) if something did not happen as it should."""
    wards = [z for z in zones() if z.kind == "ward"]
    ward_a, ward_b = wards[4], wards[0]
    cpz = next(z for z in zones() if z.zone_id == "cpz-ca-c")
    (lon_a, lat_a), (lon_b, lat_b), (lon_p, lat_p) = map(_centre, (ward_a, ward_b, cpz))
    episode, clean, stuck = f"{prefix}aq-episode", f"{prefix}aq-clean", f"{prefix}aq-stuck"
    roadside = {"site_type": "roadside"}
    devices = [
        Device(episode, "air_quality", latitude=lat_a, longitude=lon_a, attributes=roadside),
        Device(clean, "air_quality", latitude=lat_a, longitude=lon_a, attributes=roadside),
        Device(stuck, "air_quality", latitude=lat_b, longitude=lon_b, attributes=roadside),
    ]
    # A street of this run's own: an earlier demo's bays in the same database stay where they
    # were and would count on a shared street.
    street = f"Demo Street {prefix.rstrip('-').removeprefix('demo')}"
    bays = [f"{prefix}bay-{i}" for i in range(3)]
    for i, bay in enumerate(bays):
        attributes = {
            "bay_id": f"D{i}",
            "street": street,
            "parking_zone": "CA-C",
            "max_stay_minutes": 60,
            "controlled_hours": "24/7",
        }
        devices.append(
            Device(
                bay,
                "parking_bay",
                latitude=lat_p,
                longitude=lon_p + i * 0.0001,
                attributes=attributes,
            )
        )
    resident, officer, warden = (
        f"resident-{prefix.rstrip('-')}@example.org",
        f"air-officer-{prefix.rstrip('-')}@camden.example",
        f"warden-{prefix.rstrip('-')}@camden.example",
    )
    rules = [
        Rule(
            f"{prefix}daqi-{z.zone_id}",
            "zone_daqi",
            zone_id=z.zone_id,
            params={"min_level": "moderate", "clear_after_minutes": 30},
        )
        for z in (ward_a, ward_b)
    ]
    rules += [
        Rule(f"{prefix}qc", "sensor_flagged", zone_id=ward_b.zone_id),
        Rule(f"{prefix}overstay", "bay_overstay", zone_id=cpz.zone_id),
    ]
    async with await connect(database_url, autocommit=True) as conn:
        await upsert(conn, [validate(d, DEVICE_TYPES) for d in devices])
        await store.save_rules(conn, rules)
        await store.subscribe(
            conn, kinds=["air_quality"], channels={"email": resident}, zone_id=ward_a.zone_id
        )
        # Officers want every flagged sensor and overstay, not a resident's few a day (and an
        # earlier demo's devices in the same database are flagged to them too).
        await store.subscribe(
            conn,
            kinds=["device_health"],
            channels={"email": officer},
            zone_id=ward_b.zone_id,
            max_per_day=500,
        )
        await store.subscribe(
            conn,
            kinds=["parking"],
            channels={"email": warden},
            zone_id=cpz.zone_id,
            max_per_day=500,
        )
    try:
        ok = await _air_quality(
            database_url, publish, mail, devices[:3], (ward_a, ward_b), (resident, officer)
        )
        ok = ok and await _parking(database_url, publish, mail, bays, street, warden)
    finally:
        async with await connect(database_url, autocommit=True) as conn:
            # The tour's rules stop here: a later `civicpulse alerts run` is not haunted by them.
            await store.save_rules(
                conn,
                [
                    Rule(r.rule_id, r.kind, r.zone_id, r.params, r.escalate_after_minutes, False)
                    for r in rules
                ],
            )
    return ok


async def _air_quality(
    database_url: str,
    publish: Publish,
    mail: MailCatcher,
    monitors: Sequence[Device],
    wards: tuple[Zone, Zone],
    addresses: tuple[str, str],
) -> bool:
    episode, clean, stuck = (d.device_id for d in monitors)
    ward_a, ward_b = wards
    resident, officer = addresses
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    start = hour - timedelta(hours=3)
    print(f"\nalerts: a pollution episode in {ward_a.name}, a stuck sensor in {ward_b.name}")
    print(
        f"  (readings from {start:%H:%M} to {hour:%H:%M} UTC today; the alert service's clock is"
        " moved through the episode instead of waiting for it)"
    )
    clock = _Clock(hour + timedelta(minutes=2))
    async with _service(database_url, mail, clock, AirQuality()) as service:
        await publish(
            [
                # In the last hour one roadside monitor reads NO2 at about 450 µg/m³: index 7.
                _batch(
                    episode,
                    start,
                    [_air(450.0 + i % 7 if i >= 24 else 40.0 + i % 3, i) for i in range(36)],
                ),
                _batch(clean, start, [_air(35.0 + i % 5, i) for i in range(36)]),
                # The other ward's monitor is stuck on one value: a fault, not an episode.
                _batch(stuck, start, [_air(420.0) for _ in range(36)]),
            ]
        )
        if not await _until(lambda: len(mail.to(resident)) == 1):
            print("  no alert reached the ward's subscriber")
            return False
        await asyncio.sleep(1.0)  # a second message would have come by now
        print(f"  the alert, received once by the subscriber at {resident}:")
        _show(mail.to(resident)[0], 6)
        async with await connect(database_url) as conn:
            active = await store.active_alerts(conn)
        if any(a.subject == ward_b.zone_id for a in active):
            print(f"  {ward_b.name} was alerted on a stuck sensor's readings")
            return False
        # An earlier demo's stuck sensor in the same ward, if any, is flagged to this officer
        # too: look for this run's.
        if not await _until(lambda: bool(_about(mail.to(officer), stuck))):
            print(f"  the stuck sensor in {ward_b.name} was not flagged")
            return False
        print(f"  {ward_b.name}: no pollution alert; the officer is told about the sensor instead:")
        _show(_about(mail.to(officer), stuck)[0], 2)
        clock.at = hour + timedelta(hours=1, minutes=2)
        await publish([_batch(episode, hour, [_air(30.0 + i % 4, i) for i in range(12)])])
        if not await _until(
            lambda: any(
                a.below_since for a in service.active.values() if a.subject == ward_a.zone_id
            )
        ):
            print("  the alert did not see the clean air")
            return False
        print("  the air clears; the alert waits out its 30 minutes of hysteresis ...")
        clock.at = hour + timedelta(hours=1, minutes=40)
        if not await _until(lambda: len(mail.to(resident)) == 2):
            print("  the alert did not clear")
            return False
        print(f"  then clears, once: {mail.to(resident)[1]['Subject']}")
    return True


async def _parking(
    database_url: str,
    publish: Publish,
    mail: MailCatcher,
    bays: Sequence[str],
    street: str,
    warden: str,
) -> bool:
    now = datetime.now(UTC).replace(microsecond=0)
    arrived = now - timedelta(minutes=100)
    print(f"\nparking: a car in bay D0 on {street} since {arrived:%H:%M} UTC (maximum stay 1 hour)")
    beats = [{"occupied": True, "battery_pct": 91.0} for _ in range(4)]
    await publish(
        [
            # Parked, then heartbeats every 30 minutes; D1 is free; D2 has never reported.
            (
                telemetry_topic(bays[0]),
                orjson.dumps(
                    [
                        {"ts": (arrived + timedelta(minutes=30 * i)).isoformat(), "seq": i + 1, **b}
                        for i, b in enumerate(beats)
                    ]
                ),
            ),
            (
                telemetry_topic(bays[1]),
                orjson.dumps(
                    {
                        "ts": (now - timedelta(minutes=20)).isoformat(),
                        "seq": 1,
                        "occupied": False,
                        "battery_pct": 88.0,
                    }
                ),
            ),
        ]
    )
    parking = Parking()
    async with _service(database_url, mail, _Clock(now), parking):
        street_now = parking.availability("street").get(street)
        zone_now = parking.availability("zone").get("CA-C")
        if street_now is None or zone_now is None:
            print("  no live availability")
            return False
        print(
            f"  live availability: {street}: {street_now.free} free, {street_now.occupied}"
            f" occupied, {street_now.unknown} unknown (never heard from)"
        )
        print(
            f"                     zone CA-C (with the demo fleet's bays): {zone_now.free} free,"
            f" {zone_now.occupied} occupied, {zone_now.unknown} unknown"
        )
        if (street_now.free, street_now.occupied, street_now.unknown) != (1, 1, 1):
            return False
        # Earlier demos' bays in the zone may be overstaying too: this run's is on its street.
        if not await _until(lambda: bool(_about(mail.to(warden), street))):
            print("  no overstay alert reached the warden")
            return False
        await asyncio.sleep(1.0)  # a second message would have come by now
        told = _about(mail.to(warden), street)
        print(f"  the civil enforcement officer is told, once: {told[0]['Subject']}")
        if len(told) != 1:
            print(f"  ... but {len(told)} times")
            return False
    return True
