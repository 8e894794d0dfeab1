"""What one write transaction stores: table rows, quarantine rows and status changes. Pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from devices.model import Reason, StatusChange

Row = tuple[object, ...]
"""A readings-table row in column order: device_id, ts, seq, received_at, then the type's fields."""


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    received_at: datetime
    topic: str
    device_id: str | None
    item: int
    reason: Reason
    detail: str
    payload: bytes

    @property
    def key(self) -> tuple[str, bytes, int, str]:
        return (self.topic, hashlib.sha256(self.payload).digest(), self.item, self.reason.value)


@dataclass(slots=True)
class Prepared:
    """Everything one batch writes in one transaction."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
