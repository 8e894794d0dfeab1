"""Home energy reports: a period's nudge in words, and its delivery to each household.

The wording follows what the evidence says works (domain.md §4): the comparison with similar
homes, praise for homes at or below their neighbours (without it, low users drift up: Schultz et
al. 2007), one or two concrete suggestions, and how the comparison is made. It never names or
locates another household: every figure about neighbours is an average or a percentile over at
least ``min_peers`` homes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from delivery.dispatch import Dispatcher
from delivery.model import SMS_MAX, Channel, Contact, Message, Preferences
from storage import delivery as records
from storage import energy
from storage.connection import Conn

logger = logging.getLogger(__name__)

_RATING_LINES = {
    "great": "Great: you used less than your efficient neighbours. Keep it up!",
    "good": "Good: you used less than your average neighbours.",
    "above_average": "You used more than your average neighbours.",
}


@dataclass(slots=True)
class DeliveryReport:
    households: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    held: int = 0
    next_attempt: datetime | None = None
    """When held (quiet hours) or failed-but-retryable reports can go: deliver again then."""


HOUSEHOLD_CHANNELS: tuple[Channel, ...] = ("email", "sms", "letter", "mqtt")


def household_channels(chosen: Sequence[str]) -> tuple[Channel, ...]:
    """The channels a household chose that reports can use (in this order)."""
    return tuple(c for c in HOUSEHOLD_CHANNELS if c in chosen)


def nudge_message(nudge: Mapping[str, Any], *, page_url: str) -> Message:
    """The report for one household and period (a ``nudges`` row)."""
    figures: Mapping[str, Any] = nudge["figures"]
    period = str(figures.get("period", nudge["period_start"]))
    usage, average, efficient = nudge["usage_kwh"], nudge["average_kwh"], nudge["efficient_kwh"]
    rating = str(nudge["rating"])
    lines = [
        f"Your home energy report for {period}",
        "",
        _RATING_LINES[rating],
        "",
        f"Your home used {usage:,.0f} kWh.",
        f"Similar homes near you used {average:,.0f} kWh on average;"
        f" the most efficient fifth of them used {efficient:,.0f} kWh or less.",
    ]
    if rating == "good":
        lines.append("A few small changes could put you among the most efficient.")
    elif rating == "above_average":
        lines.append("Small changes add up: the tips below show where your home could save.")
    suggestions = [str(s["text"]) for s in figures.get("suggestions", [])]
    if suggestions:
        lines += ["", "What you could do:", *[f"- {s}" for s in suggestions]]
    insights = [str(i["text"]) for i in figures.get("insights", [])]
    if insights:
        lines += ["", "About your home:", *[f"- {i}" for i in insights]]
    lines += [
        "",
        f"How this is worked out: we compare your home with {nudge['peers']} similar homes nearby"
        " (the same type of property, floor area and heating fuel). We never show anyone another"
        " household's figures: your neighbours see averages, as you do.",
        "",
        f"Your page, settings and unsubscribe: {page_url}",
    ]
    text = "\n".join(lines)
    sms = (
        f"{period}: your home used {usage:,.0f} kWh; similar homes {average:,.0f} kWh."
        f" {_RATING_LINES[rating].split(':')[0]}. More: {page_url}"
    )
    if len(sms) > SMS_MAX:
        sms = sms[: SMS_MAX - 1] + "…"
    letter = text.replace(
        f"Your page, settings and unsubscribe: {page_url}",
        "To change how you receive these reports, or to stop them, call the council or visit"
        f" {page_url}",
    )
    return Message(
        kind="nudge",
        key=f"nudge/{nudge['programme_id']}/{nudge['period_start']}/{nudge['household_id']}",
        subject=f"Your home energy report for {period}",
        text=text,
        sms=sms,
        letter=letter,
        document={
            "type": "energy_report",
            "period": period,
            "usage_kwh": usage,
            "average_kwh": average,
            "efficient_kwh": efficient,
            "rating": rating,
            "smileys": figures.get("smileys", 0),
        },
    )


async def deliver_period(
    conn: Conn,
    dispatcher: Dispatcher,
    programme_id: str,
    period_start: date,
    contacts: Mapping[str, Contact],
    *,
    public_url: str,
    now: datetime,
) -> DeliveryReport:
    """Send a period's ready nudges by each household's channels (control households of a
    trial get none: the trial measures what the reports change)."""
    report = DeliveryReport()
    nudges = [
        n
        for n in await energy.nudges(conn, programme_id, period_start=period_start)
        if n["status"] == "ready"
    ]
    arms = await energy.assignments(conn, programme_id)
    preferences = await records.household_preferences(conn, [n["household_id"] for n in nudges])
    for nudge in nudges:
        household = nudge["household_id"]
        report.households += 1
        if arms.get(household, ("treatment", ""))[0] == "control":
            report.skipped["control group"] = report.skipped.get("control group", 0) + 1
            continue
        chosen = preferences[household]
        page = f"{public_url}/residents/{chosen.token}"
        contact = contacts.get(household, Contact())
        if contact.mqtt_topic is None:  # the in-home display: the meter's own command topic
            topic = f"civicpulse/v1/devices/{nudge['device_id']}/commands"
            contact = Contact(
                contact.email, contact.phone, contact.address, topic, contact.webhook_url
            )
        outcome = await dispatcher.deliver(
            conn,
            nudge_message(nudge, page_url=page),
            household,
            Preferences(
                channels=household_channels(chosen.channels),
                unsubscribed=chosen.unsubscribed_at is not None,
                quiet_start=chosen.quiet_start,
                quiet_end=chosen.quiet_end,
                cap=chosen.max_per_week,
            ),
            contact,
            now=now,
        )
        for channel in outcome.sent:
            report.sent[channel] = report.sent.get(channel, 0) + 1
        for reason in outcome.skipped.values():
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        report.failed += len(outcome.failed)
        report.held += outcome.hold_until is not None
        for later in (outcome.hold_until, outcome.retry_at):
            if later is not None and (report.next_attempt is None or later < report.next_attempt):
                report.next_attempt = later
    return report
