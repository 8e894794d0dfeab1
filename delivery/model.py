"""What is delivered and to whom: messages in every form a channel needs, recipients' choices,
and the decision of what to send now. Pure: no I/O.

A message is written once, in plain English, in each form: an email (subject and text), a short
SMS, a printable letter, and a JSON document for machines (MQTT, webhooks). Channels pick the
form they carry. The policy applies the recipient's choices: chosen channels, unsubscribed,
quiet hours (messages wait until they end) and a frequency cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal

Channel = Literal["email", "sms", "letter", "mqtt", "webhook"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "letter", "mqtt", "webhook")
Kind = Literal["nudge", "alert"]
SMS_MAX = 306
"""Two SMS segments: the short form must fit, or carriers split it further and charge more."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message to one recipient, in every form."""

    kind: Kind
    key: str
    """Identifies the message for this recipient: delivered once per key and channel."""
    subject: str
    text: str
    """The email and web text: plain English, complete."""
    sms: str
    letter: str
    """Printable: the same content as the web page, for residents without internet."""
    document: Mapping[str, Any] = field(default_factory=dict)
    """For machines (MQTT, webhooks): JSON-serialisable."""
    urgent: bool = False
    """Urgent messages (a Very High air-quality band) are not held for quiet hours."""

    def __post_init__(self) -> None:
        if len(self.sms) > SMS_MAX:
            raise ValueError(f"the SMS form has {len(self.sms)} characters (at most {SMS_MAX})")


@dataclass(frozen=True, slots=True)
class Contact:
    """Where a recipient can be reached, per channel (only those they gave)."""

    email: str | None = None
    phone: str | None = None
    address: tuple[str, ...] = ()
    """Postal address lines, the postcode last (GOV.UK Notify's letter format)."""
    mqtt_topic: str | None = None
    webhook_url: str | None = None

    def reaches(self, channel: Channel) -> bool:
        return {
            "email": self.email,
            "sms": self.phone,
            "letter": self.address or None,
            "mqtt": self.mqtt_topic,
            "webhook": self.webhook_url,
        }[channel] is not None


@dataclass(frozen=True, slots=True)
class Preferences:
    """A recipient's choices."""

    channels: tuple[Channel, ...]
    unsubscribed: bool = False
    quiet_start: time | None = None
    quiet_end: time | None = None
    """Local times; a period may cross midnight (22:00-07:00)."""
    cap: int = 2
    """At most this many messages of the kind in :attr:`cap_window`."""
    cap_window: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Decision:
    send: tuple[Channel, ...] = ()
    skipped: Mapping[Channel, str] = field(default_factory=dict)
    """Channels not used, with the reason (recorded, final)."""
    hold_until: datetime | None = None
    """Quiet hours: nothing now; try again at this local time."""


def in_quiet_hours(preferences: Preferences, local: datetime) -> datetime | None:
    """When the quiet period around ``local`` ends, or ``None`` outside quiet hours."""
    start, end = preferences.quiet_start, preferences.quiet_end
    if start is None or end is None or start == end:
        return None
    now = local.timetz().replace(tzinfo=None)
    if start < end:
        quiet = start <= now < end
        ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    else:  # crosses midnight
        quiet = now >= start or now < end
        ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if now >= start:
            ends += timedelta(days=1)
    return ends if quiet else None


def decide(
    message: Message,
    preferences: Preferences,
    contact: Contact,
    *,
    sent_in_window: int,
    local_now: datetime,
) -> Decision:
    """Which channels to use for ``message`` now, which to skip (and why), or when to retry."""
    if preferences.unsubscribed:
        return Decision(skipped={c: "unsubscribed" for c in preferences.channels})
    if sent_in_window >= preferences.cap:
        reason = f"frequency cap: {preferences.cap} in {_days(preferences.cap_window)} reached"
        return Decision(skipped={c: reason for c in preferences.channels})
    ends = None if message.urgent else in_quiet_hours(preferences, local_now)
    if ends is not None:
        return Decision(hold_until=ends)
    send: list[Channel] = []
    skipped: dict[Channel, str] = {}
    for channel in preferences.channels:
        if contact.reaches(channel):
            send.append(channel)
        else:
            skipped[channel] = f"no {channel} contact on record"
    return Decision(tuple(send), skipped)


def _days(window: timedelta) -> str:
    days = window.days
    return "a day" if days == 1 else f"{days} days"
