"""Delivering one message to one recipient: their choices, then each channel once.

Every attempt is recorded in ``deliveries`` before it is made, under a unique key of message,
recipient and channel: a message reaches a recipient by a channel at most once, even if the
caller runs twice or two services race. A channel that is not configured, a contact that lacks
it, an unsubscribed recipient or a full frequency cap is recorded as skipped, with the reason.

A failure that a later attempt may cure (a server down, a 503, a timeout) is retried: the row
gets a time from which the next delivery of the same message claims it again (after 5, 15, 45
minutes, then 2¼ hours; five attempts at most). The caller delivers again from then
(:attr:`Outcome.retry_at`); a failure no retry can cure is final.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from civicpulse.errors import DeliveryError
from delivery.channels import Sender
from delivery.model import Channel, Contact, Message, Preferences, decide
from storage import delivery as records
from storage.connection import Conn

logger = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")
MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(minutes=5)


def retry_delay(attempt: int) -> timedelta:
    """How long after failed attempt number ``attempt`` (1, 2, …) the next may be made."""
    factor: int = 3 ** max(attempt - 1, 0)
    return FIRST_RETRY * factor


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: tuple[Channel, ...] = ()
    failed: Mapping[Channel, str] = field(default_factory=dict)
    skipped: Mapping[Channel, str] = field(default_factory=dict)
    already: tuple[Channel, ...] = ()
    """Channels this message had already gone (or was going) by: not sent again."""
    hold_until: datetime | None = None
    """Quiet hours: nothing was sent; deliver again after this (local) time."""
    retry_at: datetime | None = None
    """A channel failed for a passing reason: deliver again from this time to retry it."""


class Dispatcher:
    """Delivers messages through the configured senders, recording every attempt."""

    def __init__(self, senders: Mapping[Channel, Sender], *, timezone: ZoneInfo = LONDON) -> None:
        self._senders = senders
        self._tz = timezone

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(self._senders)

    async def deliver(
        self,
        conn: Conn,
        message: Message,
        recipient: str,
        preferences: Preferences,
        contact: Contact,
        *,
        now: datetime,
    ) -> Outcome:
        since = now - preferences.cap_window
        sent_before = await records.messages_sent(conn, recipient, message.kind, since)
        decision = decide(
            message,
            preferences,
            contact,
            sent_in_window=sent_before,
            local_now=now.astimezone(self._tz),
        )
        if decision.hold_until is not None:
            return Outcome(hold_until=decision.hold_until)
        skipped = dict(decision.skipped)
        sent: list[Channel] = []
        failed: dict[Channel, str] = {}
        already: list[Channel] = []
        retry_at: datetime | None = None
        for channel in decision.send:
            sender = self._senders.get(channel)
            if sender is None:
                skipped[channel] = f"the {channel} channel is not configured"
                continue
            claim = await records.claim(
                conn, message.kind, message.key, recipient, channel, now=now
            )
            if claim is None:
                already.append(channel)
                continue
            delivery_id, attempt = claim
            try:
                reference = await sender.send(message, contact)
            except DeliveryError as error:
                retry = (
                    now + retry_delay(attempt)
                    if error.retryable and attempt < MAX_ATTEMPTS
                    else None
                )
                logger.warning(
                    "delivering %s to %s by %s failed (attempt %d%s): %s",
                    message.key,
                    recipient,
                    channel,
                    attempt,
                    f"; retry from {retry:%H:%M} UTC" if retry else "; not retried",
                    error,
                )
                await records.finish(conn, delivery_id, "failed", error.detail, retry_after=retry)
                failed[channel] = error.detail
                if retry is not None and (retry_at is None or retry < retry_at):
                    retry_at = retry
                continue
            await records.finish(conn, delivery_id, "sent", "", reference)
            sent.append(channel)
        for channel, reason in skipped.items():
            await records.skip(conn, message.kind, message.key, recipient, channel, reason)
        return Outcome(tuple(sent), failed, skipped, tuple(already), retry_at=retry_at)
