"""Device list files: simulate the devices a registry holds instead of a synthetic city.

JSON (an array of device records, or ``{"devices": [...]}``), JSON lines, or CSV with the
registry's columns ``device_id,device_type,name,latitude,longitude,zone`` plus optional
``attributes`` (a JSON object). Records are those of :func:`simulators.model.device_from_record`;
missing attributes take the defaults of their type.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from simulators.errors import ScenarioError
from simulators.model import CityDevice, device_from_record


def load_devices(path: Path) -> list[CityDevice]:
    """The devices listed in ``path`` (``.json``, ``.jsonl`` or ``.csv``)."""
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise ScenarioError(str(path), f"cannot read: {error}") from error
    records: list[dict[str, Any]]
    try:
        if path.suffix == ".csv":
            records = [_csv_record(row) for row in csv.DictReader(text.splitlines())]
        elif path.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            document = json.loads(text)
            records = document["devices"] if isinstance(document, dict) else document
    except (ValueError, KeyError, TypeError) as error:
        raise ScenarioError(str(path), f"cannot read devices: {error}") from error
    devices = [device_from_record(r) for r in records]
    seen: set[str] = set()
    for d in devices:
        if d.device_id in seen:
            raise ScenarioError(str(path), f"device {d.device_id!r} is listed twice")
        seen.add(d.device_id)
    return devices


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {k: v for k, v in row.items() if k != "attributes" and v != ""}
    if row.get("attributes"):
        record["attributes"] = json.loads(row["attributes"])
    return record
