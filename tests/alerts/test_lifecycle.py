"""The alert lifecycle: once, updates, hysteresis, escalation, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.lifecycle import Condition, acknowledge, observe, tick
from storage.alerts import AlertRecord as Active

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLEAR = timedelta(minutes=30)


def _see(
    active: Active | None, level: str | None, minutes: float
) -> tuple[Active | None, str | None, bool]:
    condition = None if level is None else Condition(level, 7.0, f"{level} now", "ward-1")
    step = observe(
        active,
        condition,
        rule_id="r",
        subject="ward-1",
        now=T0 + timedelta(minutes=minutes),
        clear_after=CLEAR,
    )
    if step is None:
        return active, None, False
    return (None if step.alert.state == "resolved" else step.alert), step.action, step.announce


def test_a_wobbling_value_opens_one_alert_and_clears_once() -> None:
    active, action, told = _see(None, "moderate", 0)
    assert (action, told) == ("opened", True)
    announcements = 1
    # Flickering across the band edge every few minutes: the same alert, nobody told again.
    for minute, level in enumerate(
        ["low", "moderate", "low", "moderate", None, "moderate"], start=1
    ):
        active, action, told = _see(active, None if level in (None, "low") else level, minute * 5)
        announcements += told
        assert active is not None
    assert announcements == 1
    # Clear, and stay clear: resolved only after the hysteresis time.
    active, action, _ = _see(active, None, 40)
    assert action == "updated" and active is not None and active.below_since is not None
    active, action, _ = _see(active, None, 60)
    assert action is None and active is not None
    active, action, told = _see(active, None, 70.5)
    assert (active, action, told) == (None, "resolved", True)


def test_a_rising_level_is_announced_a_falling_one_is_not() -> None:
    active, _, _ = _see(None, "moderate", 0)
    active, action, told = _see(active, "high", 5)
    assert (action, told) == ("updated", True) and active is not None and active.level == "high"
    active, action, told = _see(active, "moderate", 10)
    assert (action, told) == ("updated", False)
    assert _see(active, "moderate", 11) == (active, None, False)  # the same value: nothing


def test_escalation_when_nobody_acknowledges_and_not_after() -> None:
    active, _, _ = _see(None, "high", 0)
    assert active is not None
    assert (
        tick(
            active,
            now=T0 + timedelta(minutes=10),
            clear_after=CLEAR,
            escalate_after=timedelta(minutes=15),
        )
        is None
    )
    step = tick(
        active,
        now=T0 + timedelta(minutes=16),
        clear_after=CLEAR,
        escalate_after=timedelta(minutes=15),
    )
    assert step is not None and (step.action, step.announce) == ("escalated", True)
    escalated = step.alert
    assert (
        tick(
            escalated,
            now=T0 + timedelta(minutes=60),
            clear_after=CLEAR,
            escalate_after=timedelta(minutes=15),
        )
        is None
    )
    taken = acknowledge(active, by="officer.jones", now=T0 + timedelta(minutes=5)).alert
    assert (taken.state, taken.acknowledged_by) == ("acknowledged", "officer.jones")
    assert (
        tick(
            taken,
            now=T0 + timedelta(minutes=60),
            clear_after=CLEAR,
            escalate_after=timedelta(minutes=15),
        )
        is None
    )


def test_time_alone_resolves_a_cleared_alert() -> None:
    active, _, _ = _see(None, "moderate", 0)
    active, _, _ = _see(active, None, 1)
    assert active is not None
    step = tick(active, now=T0 + timedelta(minutes=31), clear_after=CLEAR, escalate_after=None)
    assert step is not None and step.action == "resolved" and step.alert.state == "resolved"
