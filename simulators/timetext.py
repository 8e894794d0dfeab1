"""Durations (``"90s"``, ``"1d12h"``) and instants (``"now-30d"``, ``"today+8h"``, RFC 3339,
``"+2d"`` relative to a run's start) as written in scenario files and on the command line. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from simulators.errors import ScenarioError

_UNITS = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")
_INSTANT = re.compile(r"^(now|today|start)?\s*(?:([+-])\s*(.+))?$")


def parse_duration(value: str | float | int, *, where: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds or text such as ``"2h30m"`` or ``"400d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ScenarioError(where, f"a duration cannot be negative: {value}")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if not text:
        raise ScenarioError(where, "empty duration")
    total, position = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match[1]) * _UNITS[match[2]]
        position = match.end()
    if position != len(text):
        raise ScenarioError(where, f"cannot read duration {value!r} (e.g. 90s, 15m, 2h, 7d, 1d12h)")
    return total


def parse_instant(
    value: str | datetime,
    *,
    now: float,
    tz: ZoneInfo,
    start: float | None = None,
    where: str = "time",
) -> float:
    """POSIX seconds of ``value``: RFC 3339 (with offset), or an anchor ``now`` / ``today``
    (local midnight) / ``start`` (the run's start) with an optional ``+``/``-`` duration; a bare
    ``+2d`` is relative to ``start`` when given, else to ``now``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScenarioError(where, f"{value} has no UTC offset")
        return value.timestamp()
    text = str(value).strip()
    match = _INSTANT.match(text.lower())
    if match is not None and (match[1] or match[2]):
        anchor = match[1] or ("start" if start is not None else "now")
        if anchor == "now":
            base = now
        elif anchor == "today":
            local = datetime.fromtimestamp(now, tz)
            base = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        elif start is not None:
            base = start
        else:
            raise ScenarioError(where, f"{value!r}: 'start' only makes sense for events")
        offset = parse_duration(match[3], where=where) if match[3] else 0.0
        return base + offset if match[2] != "-" else base - offset
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise ScenarioError(
            where, f"cannot read time {value!r} (RFC 3339, now-7d, today+8h, +2d)"
        ) from error
    if parsed.tzinfo is None:
        raise ScenarioError(where, f"{value!r} needs a UTC offset (e.g. Z or +01:00)")
    return parsed.astimezone(UTC).timestamp()


def stamp(ts: float) -> str:
    """RFC 3339 UTC text of a POSIX instant, to the second (``2026-01-05T08:30:00Z``)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
