"""The resident's settings form: read, checked, and its errors in words. Pure.

Forms are plain HTML (no scripts), posted as ``application/x-www-form-urlencoded``. A mistake
comes back on the page with a message next to its field (GOV.UK's error pattern), never as a
bare error page.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from datetime import time

CHANNEL_NAMES = {
    "email": "Email",
    "sms": "Text message",
    "letter": "Letter by post",
    "mqtt": "Your in-home display",
}
"""The channels a household may choose, in the order the page lists them."""
MAX_PER_WEEK = range(1, 8)


@dataclass(frozen=True, slots=True)
class Choices:
    channels: tuple[str, ...]
    quiet: tuple[time, time] | None
    max_per_week: int


@dataclass(slots=True)
class Checked:
    choices: Choices | None
    errors: dict[str, str] = field(default_factory=dict)
    """Field id → what to do about it."""
    values: dict[str, str | list[str]] = field(default_factory=dict)
    """What was sent, to fill the form in again."""


def fields(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return {}
    return urllib.parse.parse_qs(text, keep_blank_values=True, max_num_fields=40)


def _time(text: str) -> time | None:
    try:
        parsed = time.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.replace(second=0, microsecond=0)


def check(form: dict[str, list[str]]) -> Checked:
    channels = [c for c in form.get("channels", []) if c in CHANNEL_NAMES]
    start = (form.get("quiet_start") or [""])[0].strip()
    end = (form.get("quiet_end") or [""])[0].strip()
    cap = (form.get("max_per_week") or [""])[0].strip()
    out = Checked(None, values={"channels": channels, "quiet_start": start, "quiet_end": end})
    out.values["max_per_week"] = cap
    if not channels:
        out.errors["channels"] = (
            "Choose at least one way to get your reports, or stop them with the button below"
        )
    quiet: tuple[time, time] | None = None
    if start or end:
        begins, ends = _time(start), _time(end)
        if begins is None:
            out.errors["quiet_start"] = "Enter the time quiet hours start, like 21:00"
        if ends is None:
            out.errors["quiet_end"] = "Enter the time quiet hours end, like 08:00"
        if begins is not None and ends is not None:
            if begins == ends:
                out.errors["quiet_end"] = "Quiet hours must end at a different time than they start"
            quiet = (begins, ends)
    if not cap.isdigit() or int(cap) not in MAX_PER_WEEK:
        out.errors["max_per_week"] = "Choose how many messages a week you can get, 1 to 7"
    if not out.errors:
        order = [c for c in CHANNEL_NAMES if c in channels]
        out.choices = Choices(tuple(order), quiet, int(cap))
    return out
