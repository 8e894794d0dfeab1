"""Registry import and export: CSV (devices) and GeoJSON (devices as points, zones as polygons).

Pure: reads and writes text. Every row or feature is validated; the first bad one stops the
import with its line or feature number, so that nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date
from typing import IO, Any

import orjson

from civicpulse.errors import RegistryError
from devices.attributes import ALL_KEYS
from devices.model import DeviceType
from devices.registry import Device, Zone, validate, validate_zone

BASE_COLUMNS = (
    "device_id",
    "device_type",
    "name",
    "latitude",
    "longitude",
    "vendor",
    "model",
    "firmware_version",
    "installed_on",
    "consent",
    "zones",
)
CSV_COLUMNS = (*BASE_COLUMNS, *sorted(ALL_KEYS))


def read_csv(stream: IO[str], types: Mapping[str, DeviceType]) -> list[Device]:
    """Devices from CSV. Columns: :data:`CSV_COLUMNS` (any subset with ``device_id`` and
    ``device_type``, in any case, as spreadsheets write them); ``zones`` is a ``;``-separated list
    of explicit zone ids. A leading byte-order mark (Excel's "CSV UTF-8") is ignored."""
    text = stream.read()
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise RegistryError("-", f"CSV line {reader.line_num}: {_csv_problem(error)}") from None
    if not rows:
        raise RegistryError("-", "the CSV file is empty; its first line names the columns")
    header = [column.strip().lower() for column in rows[0]]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown or "device_id" not in header or "device_type" not in header:
        raise RegistryError(
            "-",
            f"CSV header must include device_id and device_type and use only "
            f"{', '.join(CSV_COLUMNS)}; unknown: {', '.join(unknown) or 'none'}",
        )
    devices = []
    for line, values in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in values):
            continue  # a blank line, as spreadsheets leave at the end
        if len(values) > len(header):
            raise RegistryError(
                "-", f"CSV line {line}: {len(values)} values for {len(header)} columns"
            )
        row = dict(zip(header, values, strict=False))
        try:
            devices.append(validate(_device(row), types))
        except RegistryError as error:
            raise RegistryError(error.device_id, f"CSV line {line}: {error.detail}") from error
        except ValueError as error:
            raise RegistryError(row.get("device_id") or "?", f"CSV line {line}: {error}") from error
    return devices


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "unexpected end of data" in text or "EOF" in text:
        return 'a quoted value is never closed (a " without its partner)'
    return text


def _device(values: Mapping[str, Any]) -> Device:
    def text(key: str) -> str | None:
        value = values.get(key)
        return str(value).strip() or None if value is not None else None

    def number(key: str) -> float | None:
        value = values.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return float(value)

    zones = values.get("zones") or ()
    if isinstance(zones, str):
        zones = [z.strip() for z in zones.split(";") if z.strip()]
    installed = text("installed_on")
    return Device(
        device_id=text("device_id") or "",
        device_type=text("device_type") or "",
        name=text("name"),
        latitude=number("latitude"),
        longitude=number("longitude"),
        vendor=text("vendor"),
        model=text("model"),
        firmware_version=text("firmware_version"),
        installed_on=date.fromisoformat(installed) if installed else None,
        attributes={k: v for k, v in values.items() if k in ALL_KEYS and v not in (None, "")},
        consent=text("consent"),  # type: ignore[arg-type]  # validate() checks the value
        zones=tuple(str(z) for z in zones),
    )


def write_csv(devices: Iterable[Device]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for d in devices:
        writer.writerow(
            {
                "device_id": d.device_id,
                "device_type": d.device_type,
                "name": d.name,
                "latitude": d.latitude,
                "longitude": d.longitude,
                "vendor": d.vendor,
                "model": d.model,
                "firmware_version": d.firmware_version,
                "installed_on": d.installed_on.isoformat() if d.installed_on else None,
                "consent": d.consent,
                "zones": ";".join(d.zones),
                **d.attributes,
            }
        )
    return out.getvalue()


def read_geojson(data: bytes, types: Mapping[str, DeviceType]) -> tuple[list[Device], list[Zone]]:
    """Point features are devices (properties as the CSV columns); polygon features are zones
    (properties ``zone_id``, ``kind``, ``name``)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise RegistryError("-", f"not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise RegistryError("-", "expected a GeoJSON FeatureCollection")
    devices, zones = [], []
    for index, feature in enumerate(document.get("features") or []):
        try:
            geometry = feature.get("geometry") or {}
            properties = dict(feature.get("properties") or {})
            if geometry.get("type") == "Point" or (not geometry and "device_id" in properties):
                if geometry:
                    lon, lat = geometry["coordinates"][:2]
                    properties.update(longitude=lon, latitude=lat)
                unknown = set(properties) - set(CSV_COLUMNS)
                if unknown:
                    raise RegistryError(
                        str(properties.get("device_id")), f"unknown properties {sorted(unknown)}"
                    )
                devices.append(validate(_device(properties), types))
            else:
                zones.append(
                    validate_zone(
                        Zone(
                            zone_id=str(properties.get("zone_id") or ""),
                            kind=str(properties.get("kind") or "other"),
                            name=str(properties.get("name") or properties.get("zone_id") or ""),
                            geometry=geometry,
                        )
                    )
                )
        except (RegistryError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise RegistryError("-", f"feature {index}: {error}") from error
    return devices, zones


def write_geojson(devices: Iterable[Device], zones: Iterable[Zone]) -> bytes:
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": z.geometry,
            "properties": {"zone_id": z.zone_id, "kind": z.kind, "name": z.name},
        }
        for z in zones
        if z.geometry is not None
    ]
    for d in devices:
        properties: dict[str, Any] = {
            "device_id": d.device_id,
            "device_type": d.device_type,
            "name": d.name,
            "vendor": d.vendor,
            "model": d.model,
            "firmware_version": d.firmware_version,
            "installed_on": d.installed_on.isoformat() if d.installed_on else None,
            "consent": d.consent,
            "zones": list(d.zones),
            **d.attributes,
        }
        features.append(
            {
                "type": "Feature",
                "geometry": None
                if d.latitude is None
                else {"type": "Point", "coordinates": [d.longitude, d.latitude]},
                "properties": {k: v for k, v in properties.items() if v not in (None, [], "")},
            }
        )
    return orjson.dumps(
        {"type": "FeatureCollection", "features": features}, option=orjson.OPT_INDENT_2
    )
