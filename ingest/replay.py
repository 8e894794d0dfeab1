"""Replay quarantined messages through today's codecs and registry. Pure: no I/O.

A row is decoded as ingest would decode its message now, with one difference: the decode time is
the message's original arrival, so ``timestamp_too_old`` and ``timestamp_in_future`` judge it as
of when it arrived, and a reading without ``ts`` gets the same ``ts`` at every replay. That, and
the readings tables' natural key ``(device_id, ts)``, make replay idempotent: a second replay finds
its readings already stored.

A whole message whose items are now partly refused is split as ingest would split it: the good
items are stored and each refused item is quarantined on its own (``item`` >= 0); the row itself
is then done. A row refused as a whole stays pending, saying why now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from devices.contract import Limits, parse_topic
from devices.model import DeviceType, Reason, Rejection
from ingest.prepare import InMessage, prepare
from storage.batch import Prepared, QuarantineRow
from storage.quarantine import Key, QuarantinedRow, ReplayMark

STATUS_RELATION = "device_status"


@dataclass(frozen=True, slots=True)
class Plan:
    """What replaying one quarantined row writes."""

    row_id: int
    prepared: Prepared
    """Readings and status changes; never quarantine rows (``split`` holds those)."""
    keys: tuple[Key, ...]
    """The natural key of each reading or status change in ``prepared``, in order."""
    split: tuple[QuarantineRow, ...]
    """Items of the row's message that are refused today, each to be quarantined on its own."""
    rejection: Rejection | None
    """Why the row is still refused as a whole; ``None`` when it can be stored."""
    noun: str
    """What it stores: ``reading`` or ``status change``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What replaying one row did (or, in a dry run, would do)."""

    row_id: int
    noun: str
    stored: int
    """Readings or status changes new to the database."""
    already: int
    """Readings or status changes the database had already."""
    split: tuple[QuarantineRow, ...]
    rejection: Rejection | None

    @property
    def resolved(self) -> bool:
        return self.rejection is None

    def text(self, *, dry_run: bool = False) -> str:
        """``stored N readings``, ``already stored``, ``still rejected: <reason>: <detail>`` …"""
        parts: list[str] = []
        if self.rejection is not None:
            parts.append(f"still rejected: {self.rejection.reason}: {self.rejection.detail}")
        if self.stored:
            verb = "would store" if dry_run else "stored"
            parts.append(f"{verb} {_count(self.stored, self.noun)}")
        if self.already:
            parts.append(f"{self.already} already stored" if parts else "already stored")
        if self.split:
            verb = "would quarantine" if dry_run else "quarantined"
            if len(self.split) == 1:
                item = self.split[0]
                parts.append(f"{verb} item {item.item} on its own: {item.reason}: {item.detail}")
            else:
                reasons = ", ".join(sorted({r.reason.value for r in self.split}))
                parts.append(f"{verb} {len(self.split)} items on their own: {reasons}")
        return "; ".join(parts) or "nothing to store"

    def mark(self) -> ReplayMark:
        reason = None if self.rejection is None else self.rejection.reason.value
        return ReplayMark(self.row_id, self.text(), reason)


def plan(
    row: QuarantinedRow,
    lookup: Callable[[str], DeviceType | None],
    limits: Limits,
    types: Mapping[str, DeviceType],
) -> Plan:
    """Decode ``row`` again with today's codecs (``types``), registry (``lookup``) and limits."""
    if row.item >= 0 and not row.payload.lstrip().startswith(b"{"):
        # A batch item that was not an object (`[1, 2]` in a batch) is not a message of its own;
        # decoding it as one would read it as a batch.
        refused = Rejection(Reason.BAD_STRUCTURE, "batch items must be JSON objects")
        return Plan(row.id, Prepared(), (), (), refused, noun="reading")
    # A batch item's payload is one JSON object: on its own it decodes as a one-reading message.
    message = InMessage(row.topic, row.payload, 0, 1, 0, row.received_at.timestamp())
    decoded = prepare([message], lookup, limits, types)
    whole = [q for q in decoded.quarantine if q.item < 0 or row.item >= 0]
    split = tuple(q for q in decoded.quarantine if q.item >= 0 and row.item < 0)
    keys: list[Key] = []
    for type_name, rows in decoded.rows.items():
        table = types[type_name].table
        keys.extend((table, str(r[0]), cast(datetime, r[1])) for r in rows)  # Row: device_id, ts
    keys.extend((STATUS_RELATION, s.device_id, s.ts) for s in decoded.statuses)
    parsed = parse_topic(row.topic)
    return Plan(
        row_id=row.id,
        prepared=Prepared(rows=decoded.rows, statuses=decoded.statuses),
        keys=tuple(keys),
        split=split,
        rejection=Rejection(whole[0].reason, whole[0].detail) if whole else None,
        noun="status change" if parsed and parsed[1] == "status" else "reading",
    )


def refused_by_storage(plan: Plan, detail: str) -> Plan:
    """``plan`` after the database refused its data (a value out of a column's range)."""
    return dataclasses.replace(
        plan,
        prepared=Prepared(),
        keys=(),
        rejection=Rejection(Reason.STORAGE_REJECTED, detail),
    )


def merge(plans: Iterable[Plan]) -> Prepared:
    """One batch of everything ``plans`` store, for one write."""
    out = Prepared()
    for p in plans:
        for type_name, rows in p.prepared.rows.items():
            out.rows.setdefault(type_name, []).extend(rows)
        out.statuses.extend(p.prepared.statuses)
    return out


def judge(plans: Sequence[Plan], before: set[Key], after: set[Key] | None = None) -> list[Outcome]:
    """Each plan's outcome from which keys were stored ``before`` the write and ``after`` it.

    A key is new to the database if it was absent before and is present after (``after`` is
    ``None`` in a dry run: present if written). The writer skips a status equal to the device's
    previous one, so a status absent after the write counts as known already. Of plans that share
    a key, the first stores it.
    """
    claimed: set[Key] = set()
    outcomes: list[Outcome] = []
    for p in plans:
        stored = 0
        for key in p.keys:
            if key not in before and key not in claimed and (after is None or key in after):
                stored += 1
            claimed.add(key)
        outcomes.append(
            Outcome(p.row_id, p.noun, stored, len(p.keys) - stored, p.split, p.rejection)
        )
    return outcomes


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
