"""An alert's life: opened once, updated while active, escalated when nobody acknowledges it,
resolved only after its condition has stayed clear for a while. Pure: no I/O.

Hysteresis is what stops a value wobbling on a band boundary from flooding anyone: an alert
whose condition clears is not resolved at once; it is resolved when the condition has stayed
clear for ``clear_after``, and a return of the condition meanwhile keeps the same alert open.
Levels are ordered (``LEVELS``): a rise is an update worth telling subscribers about; a fall
within the active alert is recorded but not announced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from storage.alerts import AlertRecord as Active

Action = Literal["opened", "updated", "escalated", "resolved", "acknowledged"]

LEVELS: dict[str, int] = {
    "moderate": 1,
    "high": 2,
    "very_high": 3,
    "overstay": 1,
    "offline": 1,
    "flagged": 1,
    "battery_low": 1,
    "battery_critical": 2,
    "data_gap": 1,
    "quarantine": 1,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """What a rule sees for one subject now (a zone's index, a bay's stay, a device's state)."""

    level: str
    value: float | None
    message: str
    zone_id: str | None = None
    advice: str = ""
    """What people should do (e.g. Defra's health advice for the band): sent, not stored."""


@dataclass(frozen=True, slots=True)
class Step:
    """What happened to an alert in one evaluation; ``announce`` if subscribers are told."""

    alert: Active
    action: Action
    announce: bool


def observe(
    active: Active | None,
    condition: Condition | None,
    *,
    rule_id: str,
    subject: str,
    now: datetime,
    clear_after: timedelta,
) -> Step | None:
    """Apply what a rule sees now (``None``: the condition does not hold) to the subject's
    active alert, if any. Returns the step taken, or ``None`` when nothing changed."""
    if active is None:
        if condition is None:
            return None
        opened = Active(
            alert_id=None,
            rule_id=rule_id,
            subject=subject,
            state="open",
            level=condition.level,
            value=condition.value,
            message=condition.message,
            zone_id=condition.zone_id,
            opened_at=now,
            updated_at=now,
        )
        return Step(opened, "opened", announce=True)
    if condition is None:
        if active.below_since is None:
            return Step(replace(active, below_since=now, updated_at=now), "updated", announce=False)
        if now - active.below_since >= clear_after:
            return Step(
                replace(active, state="resolved", updated_at=now), "resolved", announce=True
            )
        return None
    rose = LEVELS.get(condition.level, 0) > LEVELS.get(active.level, 0)
    changed = (
        condition.level != active.level
        or condition.value != active.value
        or active.below_since is not None
    )
    if not changed:
        return None
    updated = replace(
        active,
        level=condition.level,
        value=condition.value,
        message=condition.message,
        zone_id=condition.zone_id or active.zone_id,
        below_since=None,
        updated_at=now,
    )
    return Step(updated, "updated", announce=rose)


def tick(
    active: Active, *, now: datetime, clear_after: timedelta, escalate_after: timedelta | None
) -> Step | None:
    """Time-driven steps, with no new data: resolving after a quiet ``clear_after``, escalating
    an alert nobody acknowledged within ``escalate_after``."""
    if active.below_since is not None and now - active.below_since >= clear_after:
        return Step(replace(active, state="resolved", updated_at=now), "resolved", announce=True)
    if (
        escalate_after is not None
        and active.state == "open"
        and active.escalated_at is None
        and now - active.opened_at >= escalate_after
    ):
        return Step(replace(active, escalated_at=now, updated_at=now), "escalated", announce=True)
    return None


def acknowledge(active: Active, *, by: str, now: datetime) -> Step:
    """An officer takes the alert on: escalation stops; the alert stays until it clears."""
    if active.state == "acknowledged":
        return Step(active, "acknowledged", announce=False)
    taken = replace(
        active, state="acknowledged", acknowledged_at=now, acknowledged_by=by, updated_at=now
    )
    return Step(taken, "acknowledged", announce=False)
