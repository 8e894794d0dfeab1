"""The benchmark's messages: contract payloads of a simulated fleet, and the rows they become.

Every figure of a run uses the same messages (or a prefix of them), so the broker, the database
and the pipelines are measured on identical data. Timestamps step one minute per round, end before
now and are unique per device: the natural key ``(device_id, ts)`` never collides.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from devices.types import DEVICE_TYPES
from simulators.fleet import Fleet, SimDevice

Row = tuple[object, ...]

FLEET_TYPES = ("air_quality", "parking_bay", "smart_meter")
"""The device types the simulated fleet has (other registered types get no messages)."""


@dataclass(frozen=True, slots=True)
class Message:
    device_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Workload:
    """``messages`` round-robin over ``devices``; ``rows`` are the same readings as table rows."""

    devices: list[SimDevice]
    messages: list[Message]
    rows: dict[str, list[Row]]
    """Device type name -> rows in table column order, as ingest writes them."""

    def write_messages(self, path: Path, count: int) -> Path:
        """The first ``count`` messages as ``<device_id> <payload>`` lines (the publisher's input)."""
        with path.open("wb") as out:
            for message in self.messages[:count]:
                out.write(message.device_id.encode() + b" " + message.payload + b"\n")
        return path

    def write_payloads(self, path: Path, count: int) -> Path:
        """The first ``count`` payloads, one a line (for ``mosquitto_pub -l``)."""
        with path.open("wb") as out:
            out.writelines(m.payload + b"\n" for m in self.messages[:count])
        return path

    def write_devices_csv(self, path: Path) -> Path:
        """The fleet as a registry CSV (for ``civicpulse devices import``): only the columns
        ingest needs, which every version of the registry's CSV format accepts."""
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("device_id", "device_type", "latitude", "longitude"))
            for d in self.devices:
                writer.writerow((d.device_id, d.device_type, d.latitude, d.longitude))
        return path


def split_fleet(devices: int) -> tuple[int, int, int]:
    """Air-quality, parking-bay and smart-meter counts that add up to ``devices``."""
    third = devices // 3
    return devices - 2 * third, third, third


def build(*, messages: int, devices: int, seed: int = 7, now: datetime | None = None) -> Workload:
    """``messages`` readings from ``devices`` devices, the newest a few minutes before ``now``."""
    if devices < 3:
        raise ValueError("the fleet needs at least 3 devices (one of each type)")
    air_quality, parking_bay, smart_meter = split_fleet(devices)
    fleet = Fleet.create(
        air_quality=air_quality,
        parking_bay=parking_bay,
        smart_meter=smart_meter,
        seed=seed,
        prefix="bench",
    )
    rounds = math.ceil(messages / devices)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(minutes=rounds + 5)
    columns = {name: DEVICE_TYPES[name].columns for name in FLEET_TYPES}
    rows: dict[str, list[Row]] = {name: [] for name in FLEET_TYPES}
    out: list[Message] = []
    for i in range(messages):
        device = fleet.devices[i % devices]
        ts = start + timedelta(minutes=i // devices)
        body = fleet.reading(device, ts)
        out.append(Message(device.device_id, orjson.dumps(body)))
        rows[device.device_type].append(
            (
                device.device_id,
                ts,
                body["seq"],
                now,
                *[_column_value(body.get(c)) for c in columns[device.device_type]],
            )
        )
    return Workload(fleet.devices, out, rows)


def _column_value(value: object) -> object:
    """What ingest stores: numbers as float8, booleans as bool, absent fields as NULL."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"unexpected field value {value!r}")
