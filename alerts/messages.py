"""An alert in words, for each channel. Pure."""

from __future__ import annotations

from alerts.lifecycle import Action
from delivery.model import SMS_MAX, Message
from storage.alerts import AlertRecord

_HEADLINES = {
    "opened": "{message}",
    "updated": "Update: {message}",
    "escalated": "Not yet acknowledged: {message}",
    "resolved": "Cleared: {subject} is back to normal.",
}


def alert_message(
    alert: AlertRecord, action: Action, *, unsubscribe_url: str | None = None, advice: str = ""
) -> Message:
    """The message subscribers receive when ``alert`` is opened, rises, escalates or clears.

    Its key names the alert, the action and the level, so that each of those reaches a
    subscriber once."""
    headline = _HEADLINES.get(action, "{message}").format(
        message=alert.message, subject=alert.subject
    )
    footer = f"\n\nTo stop these messages: {unsubscribe_url}" if unsubscribe_url else ""
    text = headline + (f"\n\n{advice}" if advice and action != "resolved" else "") + footer
    sms = headline if len(headline) <= SMS_MAX else headline[: SMS_MAX - 1] + "…"
    return Message(
        kind="alert",
        key=f"alert-{alert.alert_id}/{action}/{alert.level}",
        subject=headline.split(". ")[0].rstrip(".")[:150],
        text=text,
        sms=sms,
        letter=text,
        document={
            "alert_id": alert.alert_id,
            "rule_id": alert.rule_id,
            "action": action,
            "subject": alert.subject,
            "zone_id": alert.zone_id,
            "level": alert.level,
            "value": alert.value,
            "message": alert.message,
            "opened_at": alert.opened_at.isoformat(),
        },
        urgent=alert.level == "very_high",
    )
