"""``civicpulse simulate``: publish a simulated city (see docs/simulate.md)."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from civicpulse.errors import ConfigError, UsageError
from civicpulse.settings import Settings
from devices.registry import Device, validate
from devices.types import DEVICE_TYPES
from storage.connection import connect
from storage.registry import list_devices, upsert

if TYPE_CHECKING:  # imported when the command runs
    from simulators import Plan
    from simulators.model import Treatment


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
    p.add_argument(
        "--meter-interval",
        metavar="DURATION",
        help="how often meters report their registers: 30m (default), 1h, 1d …",
    )
    p.add_argument("--credentials", help="device_id,secret file from `devices provision`")
    p.add_argument("--register", action="store_true", help="register generated devices first")
    p.add_argument("--dry-run", action="store_true", help="generate without publishing")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    trial = p.add_argument_group(
        "trial effect", "a known change in the use of a trial's treated households"
    )
    trial.add_argument(
        "--treatment",
        metavar="PROGRAMME",
        help="the programme whose treatment arm (from the database) changes its use",
    )
    trial.add_argument(
        "--effect",
        type=float,
        default=-0.03,
        help="the change, as a share of use (default -0.03: 3%% less)",
    )
    trial.add_argument(
        "--effect-from",
        metavar="WHEN",
        help="when it starts: a date (00:00 UTC, the analytics' days) or RFC 3339",
    )
    p.set_defaults(run=_simulate)


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from simulators import (
        CityDevice,
        apply_options,
        bundled_scenarios,
        device_from_record,
        load_scenario,
        prepare,
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
        meter_interval=args.meter_interval,
    )
    devices: list[CityDevice] | None = None
    if args.from_registry:
        registered = asyncio.run(_registered(settings.require_database_url()))
        devices = [
            device_from_record(registry_record(d)) for d in registered if d.latitude is not None
        ]
        if not devices:
            raise ConfigError("--from-registry", "no registered device has a location")
    treatment = _treatment(settings, args, scenario.time.timezone)
    plan = prepare(scenario, devices=devices, treatment=treatment)
    if treatment is not None:
        print(_treated(plan, treatment, args.treatment))

    def register(plan: Plan) -> None:
        asyncio.run(register_fleet(settings.require_database_url(), plan.devices))

    report = run_simulation(
        plan,
        mqtt_url=None if args.dry_run else settings.mqtt_url,
        register=register if args.register else None,
        quiet=args.quiet,
    )
    print(report.summary())
    return 0


def _treatment(settings: Settings, args: argparse.Namespace, timezone: str) -> Treatment | None:
    """The trial effect the options ask for: the programme's treatment arm from the database."""
    from zoneinfo import ZoneInfo

    from simulators import ScenarioError
    from simulators.model import Treatment
    from simulators.timetext import parse_instant

    if args.treatment is None:
        if args.effect_from is not None:
            raise UsageError("--effect-from", "needs --treatment PROGRAMME")
        return None
    if args.effect_from is None:
        raise UsageError("--treatment", "needs --effect-from (when the effect starts)")
    if not args.effect > -1.0:
        raise UsageError("--effect", f"{args.effect} would make use negative (must be > -1)")
    try:
        day = date.fromisoformat(args.effect_from)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    except ValueError:
        try:
            start = parse_instant(
                args.effect_from, now=time.time(), tz=ZoneInfo(timezone), where="--effect-from"
            )
        except ScenarioError as error:
            raise UsageError("--effect-from", error.detail) from None
    arms = asyncio.run(_arms(settings.require_database_url(), args.treatment))
    treated = frozenset(h for h, (arm, _) in arms.items() if arm == "treatment")
    return Treatment(treated, start=start, change=args.effect)


async def _arms(url: str, programme_id: str) -> dict[str, tuple[str, str]]:
    from storage import energy

    async with await connect(url) as conn:
        if await energy.programme(conn, programme_id) is None:
            raise UsageError("--treatment", f"no programme {programme_id!r}")
        arms = await energy.assignments(conn, programme_id)
    if not any(arm == "treatment" for arm, _ in arms.values()):
        raise UsageError(
            "--treatment",
            f"programme {programme_id!r} has no households in a treatment arm"
            " (run `civicpulse analytics trial assign` first)",
        )
    return arms


def _treated(plan: Plan, treatment: Treatment, programme_id: str) -> str:
    """Which simulated households the effect reaches (none: a mistake, said as one line)."""
    from simulators.model import Household
    from simulators.timetext import stamp

    households = [d.attributes for d in plan.devices if isinstance(d.attributes, Household)]
    reached = sum(h.household_id in treatment.household_ids for h in households)
    if not reached:
        raise UsageError(
            "--treatment",
            f"none of the {len(treatment.household_ids)} households in {programme_id!r}'s"
            " treatment arm is simulated (match the registry's household_id, e.g. with"
            " --from-registry)",
        )
    return (
        f"treatment: {reached:,} of {len(households):,} simulated households"
        f" ({programme_id!r} treatment arm) use {treatment.change:+.1%} from"
        f" {stamp(treatment.start)}"
    )


def registry_record(device: Device) -> dict[str, Any]:
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


async def register_fleet(url: str, devices: Any) -> None:
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
