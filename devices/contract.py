"""The versioned MQTT contract between devices and the platform (see docs/device-contract.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Literal

CONTRACT_VERSION = "v1"
TOPIC_ROOT = f"civicpulse/{CONTRACT_VERSION}/devices"
TELEMETRY_FILTER = f"{TOPIC_ROOT}/+/telemetry"
STATUS_FILTER = f"{TOPIC_ROOT}/+/status"
TELEMETRY_QOS = 1

MAX_DEVICE_ID_LENGTH = 64
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")

Channel = Literal["telemetry", "status"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied while decoding; the platform's settings choose them."""

    max_payload_bytes: int = 65_536
    max_batch_items: int = 1_000
    max_future_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=400)


def telemetry_topic(device_id: str) -> str:
    """Topic a device publishes its readings to (QoS 1)."""
    return f"{TOPIC_ROOT}/{device_id}/telemetry"


def status_topic(device_id: str) -> str:
    """Retained topic carrying ``online``/``offline``; ``offline`` is also the device's MQTT will."""
    return f"{TOPIC_ROOT}/{device_id}/status"


def valid_device_id(device_id: str) -> bool:
    """Device ids are 1-64 characters of letters, digits and ``-_.:`` (no MQTT wildcards or ``/``)."""
    return 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH and _ID_CHARS.issuperset(device_id)


@lru_cache(maxsize=1 << 18)  # topics repeat per device; ingest parses each one twice
def parse_topic(topic: str) -> tuple[str, Channel] | None:
    """Split a contract topic into ``(device_id, channel)``; ``None`` when it is not one."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "civicpulse" or parts[1] != CONTRACT_VERSION:
        return None
    if parts[2] != "devices" or not valid_device_id(parts[3]):
        return None
    channel = parts[4]
    if channel == "telemetry":
        return parts[3], "telemetry"
    if channel == "status":
        return parts[3], "status"
    return None
