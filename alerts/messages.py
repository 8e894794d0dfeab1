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


# Device-health conditions in words (alerts.health): what is wrong, with which device, and what
# an officer should do about it.
_DEVICE_NAMES = {
    "air_quality": "air-quality monitor",
    "parking_bay": "parking-bay sensor",
    "smart_meter": "smart meter",
    "weather": "weather station",
}


def device_name(device_id: str, type_name: str) -> str:
    """``parking-bay sensor pb-0042``."""
    return f"{_DEVICE_NAMES.get(type_name, type_name.replace('_', ' '))} {device_id}"


def _every(seconds: float) -> str:
    """``every 5 minutes``, ``every hour``, ``every 6 hours``."""
    minutes = round(seconds / 60)
    if minutes == 60:
        return "every hour"
    if minutes % 60 == 0:
        return f"every {minutes // 60} hours"
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


def _last(seconds: float) -> str:
    """``the last hour``, ``the last 6 hours``, ``the last 90 minutes``."""
    return "the " + _every(seconds).replace("every", "last", 1)


def low_battery_text(name: str, pct: float, *, below: float, critical: bool) -> str:
    if critical:
        return (
            f"The battery of {name} is critically low at {pct:.0f}%. Change it soon, or the"
            " device will stop reporting."
        )
    return (
        f"The battery of {name} is low at {pct:.0f}% (alerts start below {below:.0f}%). Plan a"
        " battery change."
    )


def data_gap_text(name: str, pct: float, *, window_s: float, interval_s: float) -> str:
    return (
        f"{name[0].upper()}{name[1:]} delivered only {pct:.0f}% of its readings in"
        f" {_last(window_s)} (it should report {_every(interval_s)}). It is still reporting, so"
        " readings are being lost on the way or not taken."
    )


def quarantine_text(
    name: str, device_id: str, quarantined: int, total: int, *, window_s: float
) -> str:
    return (
        f"{quarantined} of the {total} messages from {name} in {_last(window_s)}"
        f" ({100 * quarantined / total:.0f}%) were refused at ingest and quarantined. See"
        f" `civicpulse quarantine list --device {device_id}`."
    )
