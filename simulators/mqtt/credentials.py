"""Provisioning files: each device's MQTT secret (its user name is its device id)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from simulators.errors import ScenarioError


def load_credentials(path: Path) -> dict[str, str]:
    """Device id -> secret from a JSON object or a CSV file with columns ``device_id,secret``."""
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise ScenarioError(str(path), f"cannot read credentials: {error}") from error
    try:
        if path.suffix == ".csv":
            secrets = {row["device_id"]: row["secret"] for row in csv.DictReader(text.splitlines())}
        else:
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ValueError("expected a JSON object of device id -> secret")
            secrets = {str(k): str(v) for k, v in document.items()}
    except (ValueError, KeyError) as error:
        raise ScenarioError(str(path), f"cannot read credentials: {error}") from error
    return secrets
