"""The minimal device registry: add, import (CSV) and list devices (psycopg adapter)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO

import psycopg

from civicpulse.errors import RegistryError
from devices.contract import valid_device_id
from devices.model import DeviceType

CSV_COLUMNS = ("device_id", "device_type", "name", "latitude", "longitude", "zone")


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    device_type: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    zone: str | None = None


def validate(device: Device, types: Mapping[str, DeviceType]) -> Device:
    """Raise :class:`RegistryError` unless the device can be registered."""
    if not valid_device_id(device.device_id):
        raise RegistryError(device.device_id, "ids are 1-64 characters of A-Z a-z 0-9 - _ . :")
    if device.device_type not in types:
        raise RegistryError(
            device.device_id,
            f"unknown type {device.device_type!r}; known: {', '.join(sorted(types))}",
        )
    if (device.latitude is None) != (device.longitude is None):
        raise RegistryError(device.device_id, "give both latitude and longitude, or neither")
    if device.latitude is not None and not -90 <= device.latitude <= 90:
        raise RegistryError(device.device_id, f"latitude {device.latitude} is out of range")
    if device.longitude is not None and not -180 <= device.longitude <= 180:
        raise RegistryError(device.device_id, f"longitude {device.longitude} is out of range")
    return device


def read_csv(stream: IO[str], types: Mapping[str, DeviceType]) -> Iterator[Device]:
    """Devices from CSV with a header of :data:`CSV_COLUMNS` (extra columns are refused)."""
    reader = csv.DictReader(stream)
    unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
    if unknown or "device_id" not in (reader.fieldnames or ()):
        raise RegistryError(
            "-", f"CSV header must use {', '.join(CSV_COLUMNS)}; got {reader.fieldnames}"
        )
    for line, row in enumerate(reader, start=2):
        try:
            yield validate(
                Device(
                    device_id=row["device_id"].strip(),
                    device_type=(row.get("device_type") or "").strip(),
                    name=(row.get("name") or "").strip() or None,
                    latitude=_float(row.get("latitude")),
                    longitude=_float(row.get("longitude")),
                    zone=(row.get("zone") or "").strip() or None,
                ),
                types,
            )
        except (RegistryError, ValueError) as error:
            raise RegistryError(row.get("device_id") or "?", f"CSV line {line}: {error}") from error


def _float(text: str | None) -> float | None:
    return float(text) if text and text.strip() else None


async def upsert(
    conn: psycopg.AsyncConnection[tuple[object, ...]], devices: Iterable[Device]
) -> int:
    """Insert or update devices in one transaction; returns how many were written."""
    rows = [(d.device_id, d.device_type, d.name, d.latitude, d.longitude, d.zone) for d in devices]
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO devices (device_id, device_type, name, latitude, longitude, zone)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE SET"
            " device_type = excluded.device_type, name = excluded.name,"
            " latitude = excluded.latitude, longitude = excluded.longitude, zone = excluded.zone",
            rows,
        )
    await conn.commit()
    return len(rows)


async def list_devices(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> list[Device]:
    cur = await conn.execute(
        "SELECT device_id, device_type, name, latitude, longitude, zone FROM devices ORDER BY 1"
    )
    return [
        Device(str(r[0]), str(r[1]), *(None if v is None else v for v in r[2:]))  # type: ignore[arg-type]
        for r in await cur.fetchall()
    ]
