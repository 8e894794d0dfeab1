"""``civicpulse demo``: the whole pipeline on a small simulated fleet, reported from the database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
import psycopg

from civicpulse.cli.demo_alerts import Publish, alerts_tour
from civicpulse.cli.demo_energy import energy_tour
from civicpulse.cli.services import services
from civicpulse.embedded.mail import mail_catcher
from civicpulse.settings import Settings
from devices.contract import status_topic, telemetry_topic
from devices.registry import Device, validate
from devices.sample_city import build
from devices.types import DEVICE_TYPES
from ingest.service import Ingest, IngestConfig
from simulators.fleet import Fleet, SimDevice, faulty_messages
from simulators.publisher import publish_all
from storage.connection import connect
from storage.health import fleet_health
from storage.migrate import migrate
from storage.registry import list_zones, upsert, upsert_zones, zones_of


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on a small simulated fleet")
    p.add_argument("--devices", type=int, default=60, help="fleet size, split over the three types")
    p.add_argument("--rounds", type=int, default=50, help="readings per device")
    p.set_defaults(run=_demo, quiet_logs=True)


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    return run_demo(settings, devices=args.devices, rounds=args.rounds)


def run_demo(settings: Settings, *, devices: int, rounds: int) -> int:
    with services(settings) as found:
        print(f"database: {found.database_url}")
        print(f"broker:   {found.mqtt_url}")
        if found.embedded:
            print(f"(embedded services started here: {', '.join(found.embedded)})")
        return asyncio.run(
            _tour(
                found.database_url, found.mqtt_url, found.mqtt_protocol, settings, devices, rounds
            )
        )


def _prefixed(device: Device, prefix: str) -> Device:
    """``device`` with its id (and its household's, for a meter) prefixed."""
    attributes = dict(device.attributes)
    if "household_id" in attributes:
        attributes["household_id"] = f"{prefix}{attributes['household_id']}"
    return dataclasses.replace(device, device_id=prefix + device.device_id, attributes=attributes)


async def _tour(
    database_url: str,
    mqtt_url: str,
    protocol: Literal["5", "3.1.1"],
    settings: Settings,
    devices: int,
    rounds: int,
) -> int:
    report = await migrate(database_url, timescaledb=settings.timescaledb)
    print(f"storage mode: {report.mode} ({report.reason})")
    per_type = max(1, devices // 3)
    run_id = datetime.now(UTC).strftime("%H%M%S")
    # The bundled sample city, scaled to the demo, its ids prefixed so that runs stay apart.
    city = build(homes=per_type, bays=per_type, monitors=per_type)
    order = {"air_quality": 0, "parking_bay": 1, "smart_meter": 2}
    registered = [
        validate(_prefixed(d, f"demo{run_id}-"), DEVICE_TYPES)
        for d in sorted(city.devices, key=lambda d: order.get(d.device_type, 3))
        if d.device_type in order
    ]
    fleet = Fleet(
        [
            SimDevice(d.device_id, d.device_type, d.latitude or 0.0, d.longitude or 0.0, "")
            for d in registered
        ]
    )
    async with await connect(database_url) as conn:
        await upsert_zones(conn, city.zones)
        await upsert(conn, registered)
    print(
        f"registered {len(registered)} devices of the sample city ({per_type} of each type)"
        f" in {len(city.zones)} zones"
    )

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=rounds)
    clean = list(fleet.messages(start=start, count=len(fleet.devices) * rounds))
    # A device back from an outage sends its buffered readings as one batch (older timestamps).
    bay = fleet.devices[per_type]
    backlog_start = start - timedelta(hours=2)
    backlog = [fleet.reading(bay, backlog_start + timedelta(minutes=5 * i)) for i in range(12)]
    backlog_message = (telemetry_topic(bay.device_id), orjson.dumps(backlog))
    senml_at = now - timedelta(hours=3)  # a monitor's reading from earlier, as SenML
    senml = (
        telemetry_topic(fleet.devices[0].device_id),
        orjson.dumps(
            [
                {
                    "bn": f"urn:dev:{fleet.devices[0].device_id}:",
                    "bt": senml_at.timestamp(),
                    "n": "pm25",
                    "u": "ug/m3",
                    "v": 9.5,
                },
                {"n": "no2", "u": "ug/m3", "v": 31.0},
            ]
        ),
    )
    redelivered = clean[: max(1, len(clean) // 10)]  # what a reconnecting device might resend
    faulty = faulty_messages(fleet, now)
    statuses = [(status_topic(d.device_id), b"online") for d in fleet.devices[:5]]
    outgoing = [
        *clean,
        backlog_message,
        senml,
        *redelivered,
        *[(t, p) for t, p, _ in faulty],
        *statuses,
    ]

    config = IngestConfig(
        database_url=database_url,
        mqtt_url=mqtt_url,
        client_id=f"civicpulse-demo-{run_id}",
        session_expiry=600,  # a demo session need not outlive the demo for long
        protocol=protocol,
    )
    ingest = Ingest(config)
    task = asyncio.create_task(ingest.run())
    if not await ingest.wait_ready(30):
        ingest.stop()
        await task
        print("ingest could not connect to the broker")
        return 1
    started = time.perf_counter()
    stop = threading.Event()
    try:
        published = await asyncio.to_thread(
            publish_all, mqtt_url, outgoing, client_id=f"demo-sim-{run_id}", stop=stop
        )
    finally:
        stop.set()  # interrupted: the publisher thread ends too, instead of being waited for
    deadline = time.monotonic() + 120
    while ingest.metrics.messages_acked < published and time.monotonic() < deadline:  # noqa: ASYNC110 (counters, not events)
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    ingest.stop()
    await task

    m = ingest.metrics
    print()
    print(
        f"published {published} messages at QoS 1 ({len(clean)} readings, 1 backlog batch of "
        f"{len(backlog)}, 1 SenML pack, {len(redelivered)} repeated, {len(faulty)} faulty, "
        f"{len(statuses)} status) in {elapsed:.2f} s"
    )
    print(f"ingest received {m.messages_received}, acknowledged {m.messages_acked} after commit")
    async with await connect(database_url) as conn:
        print("rows stored for this run:")
        for table in ("air_quality_readings", "parking_bay_readings", "smart_meter_readings"):
            cur = await conn.execute(
                f"SELECT count(*) FROM {table} WHERE device_id LIKE %s",
                (f"demo{run_id}-%",),
            )
            row = await cur.fetchone()
            print(f"  {table:24} {row[0] if row else 0:>8}")
        print(f"duplicates ignored: {sum(m.duplicates.values())}")
        print("quarantined by reason:")
        for reason, count in sorted(m.quarantined.items()):
            print(f"  {reason:24} {count:>8}")
        cur = await conn.execute(
            "SELECT bucket, round(avg(no2_avg)::numeric, 1), sum(samples)"
            " FROM air_quality_hourly WHERE device_id LIKE %s GROUP BY 1 ORDER BY 1",
            (f"demo{run_id}-%",),
        )
        print("NO2 by hour across the fleet (µg/m³, from the hourly rollup):")
        senml_hour = senml_at.replace(minute=0, second=0)
        for bucket, no2, samples in await cur.fetchall():
            note = "  <- the SenML pack's reading, 3 hours old" if bucket == senml_hour else ""
            plural = "reading" if samples == 1 else "readings"
            print(f"  {bucket:%Y-%m-%d %H:%M}Z  {no2:>6}  ({samples} {plural}){note}")
        await _health_by_ward(conn, f"demo{run_id}-")
    # A shared broker may also hand ingest other devices' retained statuses: more, never fewer.
    extra = m.messages_acked - published
    if extra < 0:
        print(f"\nunacknowledged at exit: {-extra}")
        return 1
    if extra:
        print(f"\n(ingest also stored {extra} retained status messages already on the broker)")
    print("\nevery message committed before its ack")
    return 0 if await _tours(database_url, mqtt_url, protocol, run_id, settings.public_url) else 1


async def _tours(
    database_url: str,
    mqtt_url: str,
    protocol: Literal["5", "3.1.1"],
    run_id: str,
    public_url: str,
) -> bool:
    """What the platform does with the data: alerts, home energy reports (and their emails,
    caught locally)."""
    async with ingesting(database_url, mqtt_url, protocol, f"demo-{run_id}-tours") as publish:
        if publish is None:
            print("ingest could not connect to the broker")
            return False
        with mail_catcher() as mail:
            return await alerts_tour(
                database_url, publish, f"demo{run_id}-", mail
            ) and await energy_tour(
                database_url, publish, f"demo{run_id}", mail, public_url=public_url
            )


@contextlib.asynccontextmanager
async def ingesting(
    database_url: str, mqtt_url: str, protocol: Literal["5", "3.1.1"], name: str
) -> AsyncIterator[Publish | None]:
    """An ingest in this process for the block, and a ``publish`` that returns once ingest has
    committed (and acknowledged) what it sent; ``None`` if ingest could not connect."""
    ingest = Ingest(
        IngestConfig(
            database_url=database_url,
            mqtt_url=mqtt_url,
            client_id=f"civicpulse-{name}",
            session_expiry=600,
            protocol=protocol,
        )
    )
    task = asyncio.create_task(ingest.run())

    async def publish(messages: list[tuple[str, bytes]]) -> None:
        before = ingest.metrics.messages_acked
        sent = await asyncio.to_thread(publish_all, mqtt_url, messages, client_id=f"{name}-sim")
        deadline = time.monotonic() + 60
        while ingest.metrics.messages_acked < before + sent and time.monotonic() < deadline:  # noqa: ASYNC110 (counters, not events)
            await asyncio.sleep(0.05)

    try:
        yield publish if await ingest.wait_ready(30) else None
    finally:
        ingest.stop()
        await task


async def _health_by_ward(conn: psycopg.AsyncConnection[tuple[object, ...]], prefix: str) -> None:
    """What an officer sees first: each ward's devices by health state."""
    report = [
        h
        for h in await fleet_health(conn, DEVICE_TYPES, now=datetime.now(UTC))
        if h.device_id.startswith(prefix)
    ]
    membership = await zones_of(conn)
    names = {z.zone_id: z.name for z in await list_zones(conn)}
    by_ward: dict[str, Counter[str]] = {}
    for h in report:
        for zone in membership.get(h.device_id, []):
            if zone.startswith("ward-"):
                by_ward.setdefault(names.get(zone, zone), Counter())[h.state] += 1
    print("device health by ward (this run's devices):")
    for ward, states in sorted(by_ward.items()):
        print(f"  {ward:28} " + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))
