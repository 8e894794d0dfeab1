"""``civicpulse devices|zones|city …``: the registry from the command line."""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from datetime import date
from pathlib import Path

from civicpulse.errors import RegistryError, UsageError
from civicpulse.settings import Settings
from devices.health import Health
from devices.registry import Device, Zone, validate
from devices.registry_files import read_csv, read_geojson, write_csv, write_geojson
from devices.types import DEVICE_TYPES
from storage.connection import connect
from storage.registry import (
    list_devices,
    list_zones,
    upsert,
    upsert_zones,
    withdraw_consent,
    zone_counts,
    zones_of,
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    devices = sub.add_parser("devices", help="the device registry").add_subparsers(metavar="task")
    p = devices.add_parser("add", help="register (or update) one device")
    p.add_argument("device_id")
    p.add_argument("--type", required=True, dest="device_type", choices=sorted(DEVICE_TYPES))
    p.add_argument("--name")
    p.add_argument("--lat", type=float)
    p.add_argument("--lon", type=float)
    p.add_argument("--vendor")
    p.add_argument("--model")
    p.add_argument("--firmware", dest="firmware_version")
    p.add_argument("--installed", type=date.fromisoformat, help="YYYY-MM-DD")
    p.add_argument("--consent", choices=("monthly", "daily", "half_hourly"), help="smart meters")
    p.add_argument("--zone", action="append", default=[], help="explicit zone (repeatable)")
    p.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="type-specific attribute, e.g. restriction=residents (repeatable)",
    )
    p.set_defaults(run=_add)
    p = devices.add_parser("import", help="register devices (and zones) from CSV or GeoJSON")
    p.add_argument("path", type=Path, help="*.csv, or *.geojson/*.json (points and polygons)")
    p.set_defaults(run=_import)
    p = devices.add_parser("export", help="write the registry as CSV or GeoJSON to stdout")
    p.add_argument("--format", choices=("csv", "geojson"), default="csv")
    p.set_defaults(run=_export)
    p = devices.add_parser("list", help="list registered devices")
    p.add_argument("--zone", help="only devices in this zone")
    p.set_defaults(run=_list)
    p = devices.add_parser(
        "withdraw", help="households withdraw consent: their meters leave every comparison"
    )
    p.add_argument("device_id", nargs="+", help="the households' smart meters")
    p.set_defaults(run=_withdraw)
    p = devices.add_parser("types", help="the device types and their fields")
    p.set_defaults(run=_types)
    p = devices.add_parser("health", help="liveness, completeness, battery and signal per device")
    p.add_argument("--zone", help="only devices in this zone")
    p.add_argument("--window-hours", type=float, default=24.0, help="completeness window")
    p.add_argument(
        "--state",
        choices=("ok", "recovering", "late", "offline", "never_seen"),
        help="only devices in this state",
    )
    p.set_defaults(run=_health)

    from civicpulse.cli.broker import add_device_parsers

    add_device_parsers(devices)

    zones = sub.add_parser("zones", help="wards, parking zones, AQMAs").add_subparsers(
        metavar="task"
    )
    p = zones.add_parser("import", help="zones from GeoJSON polygons; devices are reassigned")
    p.add_argument("path", type=Path)
    p.set_defaults(run=_zones_import)
    p = zones.add_parser("list", help="zones with their device counts")
    p.set_defaults(run=_zones_list)

    city = sub.add_parser("city", help="the bundled sample city").add_subparsers(metavar="task")
    p = city.add_parser("load", help="register the sample city's zones and devices")
    p.add_argument("--homes", type=int, default=300)
    p.add_argument("--bays", type=int, default=200)
    p.add_argument("--monitors", type=int, default=12)
    p.add_argument("--seed", type=int, default=2026)
    p.set_defaults(run=_city_load)


def _add(settings: Settings, args: argparse.Namespace) -> int:
    attributes = {}
    for pair in args.attr:
        key, sep, value = pair.partition("=")
        if not sep:
            raise RegistryError(args.device_id, f"--attr takes KEY=VALUE, got {pair!r}")
        attributes[key.strip()] = value.strip()
    device = validate(
        Device(
            args.device_id,
            args.device_type,
            args.name,
            args.lat,
            args.lon,
            args.vendor,
            args.model,
            args.firmware_version,
            args.installed,
            attributes,
            args.consent,
            tuple(args.zone),
        ),
        DEVICE_TYPES,
    )

    async def run() -> None:
        async with await connect(settings.require_database_url()) as conn:
            await upsert(conn, [device])

    asyncio.run(run())
    print(f"registered {device.device_id} ({device.device_type})")
    return 0


def _withdraw(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await withdraw_consent(conn, args.device_id)

    changed = asyncio.run(run())
    print(
        f"consent withdrawn for {changed} of {len(args.device_id)} meters; from the next run"
        " their households are in no report and no one's similar homes"
    )
    return 0


def read_input(path: Path) -> bytes:
    """The bytes of a file the user named, or one clear line saying why not."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(str(path), "no such file") from None
    except IsADirectoryError:
        raise UsageError(str(path), "is a directory, not a file") from None
    except PermissionError:
        raise UsageError(str(path), "not readable (permission denied)") from None
    except OSError as error:
        raise UsageError(str(path), error.strerror or str(error)) from None


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UsageError(
            str(path),
            f"line {line} is not UTF-8 text; save the file as 'CSV UTF-8' (or GeoJSON in UTF-8)",
        ) from None


def _import(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.path
    data = read_input(path)
    if path.suffix.lower() == ".csv":
        devices, zones = read_csv(io.StringIO(_text(path, data)), DEVICE_TYPES), list[Zone]()
    elif path.suffix.lower() in (".geojson", ".json"):
        _text(path, data)
        devices, zones = read_geojson(data, DEVICE_TYPES)
    else:
        raise UsageError(str(path), "import takes a .csv, .geojson or .json file")

    async def run() -> None:
        async with await connect(settings.require_database_url()) as conn:
            if zones:
                await upsert_zones(conn, zones)
            await upsert(conn, devices)

    asyncio.run(run())
    print(f"registered {len(devices)} devices and {len(zones)} zones from {path}")
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> tuple[list[Device], list[Zone]]:
        async with await connect(settings.require_database_url()) as conn:
            return await list_devices(conn), await list_zones(conn)

    devices, zones = asyncio.run(run())
    if args.format == "csv":
        sys.stdout.write(write_csv(devices))
    else:
        sys.stdout.buffer.write(write_geojson(devices, zones) + b"\n")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> None:
        async with await connect(settings.require_database_url()) as conn:
            membership = await zones_of(conn)
            for d in await list_devices(conn, zone=args.zone):
                where = f"{d.latitude},{d.longitude}" if d.latitude is not None else "-"
                zones = ";".join(membership.get(d.device_id, [])) or "-"
                print(f"{d.device_id}\t{d.device_type}\t{zones}\t{where}\t{d.name or ''}")

    asyncio.run(run())
    return 0


def _types(_settings: Settings, _args: argparse.Namespace) -> int:
    for device_type in DEVICE_TYPES.values():
        print(
            f"{device_type.name}: {device_type.description}"
            f" (reports at least every {device_type.expected_interval_s} s)"
        )
        for f in device_type.fields:
            bounds = "" if f.minimum is None else f" [{f.minimum:g} .. {f.maximum:g}]"
            print(f"  {f.name:24} {f.kind:6} {f.unit:6}{bounds}  {f.description}")
    return 0


def _health(settings: Settings, args: argparse.Namespace) -> int:
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from storage.health import fleet_health

    async def run() -> list[Health]:
        async with await connect(settings.require_database_url()) as conn:
            return await fleet_health(
                conn,
                DEVICE_TYPES,
                now=datetime.now(UTC),
                window=timedelta(hours=args.window_hours),
                zone=args.zone,
            )

    report = asyncio.run(run())
    print("device\ttype\tstate\tsilent\tcomplete\tbattery\trssi\tfirmware\twarnings")
    for h in report:
        if args.state and h.state != args.state:
            continue
        silent = "-" if h.silence is None else f"{h.silence.total_seconds() / 60:.0f}m"
        complete = "-" if h.completeness is None else f"{h.completeness:.0%}"
        battery = "-" if h.battery_pct is None else f"{h.battery_pct:.0f}%"
        rssi = "-" if h.rssi_dbm is None else f"{h.rssi_dbm:.0f}"
        print(
            f"{h.device_id}\t{h.device_type}\t{h.state}\t{silent}\t{complete}\t{battery}"
            f"\t{rssi}\t{h.firmware_version or '-'}\t{'; '.join(h.warnings)}"
        )
    counts = Counter(h.state for h in report)
    print(
        f"# {len(report)} devices: "
        + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    )
    return 0


def _zones_import(settings: Settings, args: argparse.Namespace) -> int:
    data = read_input(args.path)
    _text(args.path, data)
    devices, zones = read_geojson(data, DEVICE_TYPES)
    if devices:
        raise RegistryError("-", "this file has devices too: use `civicpulse devices import`")

    async def run() -> None:
        async with await connect(settings.require_database_url()) as conn:
            await upsert_zones(conn, zones)

    asyncio.run(run())
    print(f"imported {len(zones)} zones; devices reassigned by geometry")
    return 0


def _zones_list(settings: Settings, _args: argparse.Namespace) -> int:
    async def run() -> list[tuple[Zone, int]]:
        async with await connect(settings.require_database_url()) as conn:
            return await zone_counts(conn)

    for zone, count in asyncio.run(run()):
        print(f"{zone.zone_id}\t{zone.kind}\t{count}\t{zone.name}")
    return 0


def _city_load(settings: Settings, args: argparse.Namespace) -> int:
    from devices.sample_city import build

    city = build(homes=args.homes, bays=args.bays, monitors=args.monitors, seed=args.seed)
    devices = [validate(d, DEVICE_TYPES) for d in city.devices]

    async def run() -> None:
        async with await connect(settings.require_database_url()) as conn:
            await upsert_zones(conn, city.zones)
            await upsert(conn, devices)

    asyncio.run(run())
    print(f"sample city: {len(city.zones)} zones, {len(devices)} devices registered")
    return 0
