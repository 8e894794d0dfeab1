"""Accounting for the messages a broker dropped, including while ingest was not running. Pure.

Mosquitto counts the messages it discards (queue and inflight limits) in
``$SYS/broker/publish/messages/dropped``, from its own start. Ingest sees that count only while
connected, so drops during its downtime (a stock broker keeps 1,000 messages per offline session)
would pass unmentioned. Ingest therefore keeps the last count it saw, with the broker's boot time
(from ``$SYS/broker/uptime``): at the next sample, the same boot time means the difference was
dropped meanwhile; a later boot time means the broker restarted and its count began again at 0.
The record is shared by every ingest process of a deployment, and updated under a lock, so each
drop is reported once, by whichever process sees it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAME_BOOT_TOLERANCE_S = 120.0
"""Boot times from ``now - uptime`` wobble with the $SYS publish interval and clock reads."""


@dataclass(frozen=True, slots=True)
class DropRecord:
    """The broker's drop count as last seen, its boot time, and when it was seen (Unix s)."""

    dropped: int
    boot: float
    seen_at: float

    def to_json(self) -> dict[str, float]:
        return {"dropped": self.dropped, "boot": self.boot, "seen_at": self.seen_at}

    @classmethod
    def from_json(cls, value: Any) -> DropRecord | None:
        try:
            return cls(int(value["dropped"]), float(value["boot"]), float(value["seen_at"]))
        except (TypeError, KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class DropReport:
    """What one sample adds: messages dropped since the record, and since when."""

    dropped: int
    since: float | None
    """When the previous sample was taken (``None``: no record yet, nothing to compare)."""
    restarted: bool
    """The broker restarted since: drops before its restart could not be counted."""


def account(
    record: DropRecord | None, dropped: int, uptime_s: float, now: float
) -> tuple[DropRecord, DropReport]:
    """The new record and what it adds, for a sample of ``dropped`` after ``uptime_s``."""
    boot = now - uptime_s
    new = DropRecord(dropped, boot, now)
    if record is None:
        return new, DropReport(0, None, restarted=False)
    if abs(boot - record.boot) <= SAME_BOOT_TOLERANCE_S and dropped >= record.dropped:
        return DropRecord(dropped, record.boot, now), DropReport(
            dropped - record.dropped, record.seen_at, restarted=False
        )
    # A later boot (or a count that went down): the counter started again from zero.
    return new, DropReport(dropped, record.seen_at, restarted=True)


def parse_uptime(text: str) -> float | None:
    """Seconds from Mosquitto's ``$SYS/broker/uptime`` payload, ``"12345 seconds"``."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None
