"""``civicpulse simulate``: publish a simulated city (see docs/simulate.md)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from civicpulse.errors import ConfigError
from civicpulse.settings import Settings
from devices.registry import Device, validate
from devices.types import DEVICE_TYPES
from storage.connection import connect
from storage.registry import list_devices, upsert


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="publish a simulated city (see docs/simulate.md)")
    p.add_argument("--scenario", default="smoke", help="bundled name or TOML file (default smoke)")
    p.add_argument("--list-scenarios", action="store_true", help="list the bundled scenarios")
    p.add_argument("--seed", type=int)
    p.add_argument("--prefix", help="device-id prefix of generated fleets")
    for name in ("air-quality", "parking-bay", "smart-meter", "weather"):
        p.add_argument(f"--{name}", type=int, metavar="N", help=f"generated {name} devices")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--devices-file", help="devices from a JSON, JSONL or CSV file")
    source.add_argument(
        "--from-registry",
        action="store_true",
        help="simulate the devices registered in the database",
    )
    p.add_argument("--mode", choices=["realtime", "accelerated", "backfill"])
    p.add_argument("--start", help="now-7d, today-365d or RFC 3339")
    p.add_argument("--duration", help="7d, 2h or forever")
    p.add_argument("--speed", type=float, help="acceleration factor")
    p.add_argument("--connection", choices=["gateway", "per-device"])
    p.add_argument("--connections", type=int, help="gateway connections")
    p.add_argument("--max-inflight", type=int)
    p.add_argument("--batch", type=int, help="readings per message in backfill")
    p.add_argument("--credentials", help="device_id,secret file from `devices provision`")
    p.add_argument("--register", action="store_true", help="register generated devices first")
    p.add_argument("--dry-run", action="store_true", help="generate without publishing")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_simulate)


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from simulators import (
        CityDevice,
        Plan,
        apply_options,
        bundled_scenarios,
        device_from_record,
        load_scenario,
        run_simulation,
    )

    if args.list_scenarios:
        for name in bundled_scenarios():
            print(f"{name}\t{load_scenario(name).description}")
        return 0
    if not args.dry_run and settings.mqtt_url is None:
        raise ConfigError("CIVICPULSE_MQTT_URL", "not set (or use --dry-run)")
    scenario = apply_options(
        load_scenario(args.scenario),
        seed=args.seed,
        prefix=args.prefix,
        air_quality=args.air_quality,
        parking_bay=args.parking_bay,
        smart_meter=args.smart_meter,
        weather=args.weather,
        devices_file=args.devices_file,
        mode=args.mode,
        start=args.start,
        duration=args.duration,
        speed=args.speed,
        connection=args.connection,
        connections=args.connections,
        max_inflight=args.max_inflight,
        batch=args.batch,
        credentials=args.credentials,
    )
    devices: list[CityDevice] | None = None
    if args.from_registry:
        registered = asyncio.run(_registered(settings.require_database_url()))
        devices = [device_from_record(_record(d)) for d in registered if d.latitude is not None]
        if not devices:
            raise ConfigError("--from-registry", "no registered device has a location")

    def register(plan: Plan) -> None:
        asyncio.run(_register(settings.require_database_url(), plan.devices))

    report = run_simulation(
        scenario,
        mqtt_url=None if args.dry_run else settings.mqtt_url,
        devices=devices,
        register=register if args.register else None,
        quiet=args.quiet,
    )
    print(report.summary())
    return 0


def _record(device: Device) -> dict[str, Any]:
    """A registry device as the simulator's record: consent and ids go into its attributes."""
    attributes = dict(device.attributes)
    if device.device_type == "smart_meter":
        attributes.setdefault("household_id", device.device_id)
        attributes["consent"] = device.consent or "monthly"
    elif device.device_type == "parking_bay":
        attributes.setdefault("bay_id", device.device_id)
    elif device.device_type == "weather":
        attributes = {}
    return {
        "device_id": device.device_id,
        "device_type": device.device_type,
        "latitude": device.latitude,
        "longitude": device.longitude,
        "attributes": attributes,
    }


async def _registered(url: str) -> list[Device]:
    async with await connect(url) as conn:
        return await list_devices(conn)


async def _register(url: str, devices: Any) -> None:
    records = []
    for d in devices:
        record = d.record()
        attributes = dict(record["attributes"])
        consent = attributes.pop("consent", None)
        attributes.pop("urban_heat_c", None)  # a simulation knob, not a registry attribute
        records.append(
            validate(
                Device(
                    record["device_id"],
                    record["device_type"],
                    latitude=record["latitude"],
                    longitude=record["longitude"],
                    attributes=attributes,
                    consent=consent,
                ),
                DEVICE_TYPES,
            )
        )
    async with await connect(url) as conn:
        await upsert(conn, records)
