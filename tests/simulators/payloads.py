"""Decoding simulated messages with the platform's own codec."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from devices.codec import decode_message
from devices.contract import Limits
from devices.model import Decoded
from devices.types import DEVICE_TYPES
from simulators.delivery import Outgoing
from simulators.model import CityDevice


def decode_all(
    devices: Iterable[CityDevice], messages: Iterable[Outgoing], received_at: datetime | None = None
) -> list[tuple[Outgoing, Decoded]]:
    """Each message with what the platform's codec makes of it."""
    types = {d.device_id: DEVICE_TYPES[d.device_type] for d in devices}
    at = received_at or datetime.now(UTC)
    return [(m, decode_message(m.topic, m.payload, at, types.get, Limits())) for m in messages]
