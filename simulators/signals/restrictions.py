"""Controlled parking hours such as ``"Mon-Sat 08:30-18:30"``: parsing and lookup. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulators.errors import ScenarioError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*"
    r"(?P<h2>\d{1,2}):(?P<m2>\d{2})$"
)


@dataclass(frozen=True, slots=True)
class ControlledHours:
    """When a bay's restriction applies: per weekday (0 = Monday), minute ranges of the day."""

    text: str
    ranges: tuple[tuple[frozenset[int], int, int], ...]

    @classmethod
    def parse(cls, text: str | None) -> ControlledHours:
        """``"Mon-Sat 08:30-18:30"``, ``"Mon-Fri 08:00-18:30, Sat 09:00-13:00"``, ``"At any time"``
        or an empty string / ``"none"`` (never controlled)."""
        raw = (text or "").strip()
        lowered = raw.lower()
        if lowered in ("", "none", "uncontrolled"):
            return cls(raw, ())
        if lowered in ("at any time", "any time", "24/7"):
            return cls(raw, ((frozenset(range(7)), 0, 24 * 60),))
        ranges = []
        for part in lowered.split(","):
            match = _PART.match(part.strip())
            if match is None or match["d1"] not in _DAYS or (match["d2"] or "mon") not in _DAYS:
                raise ScenarioError("controlled_hours", f"cannot read {raw!r}")
            first = _DAYS.index(match["d1"])
            last = _DAYS.index(match["d2"]) if match["d2"] else first
            days = (
                frozenset(range(first, last + 1))
                if last >= first
                else frozenset(list(range(first, 7)) + list(range(last + 1)))
            )
            start = int(match["h1"]) * 60 + int(match["m1"])
            end = int(match["h2"]) * 60 + int(match["m2"])
            if not 0 <= start < end <= 24 * 60:
                raise ScenarioError("controlled_hours", f"bad time range in {raw!r}")
            ranges.append((days, start, end))
        return cls(raw, tuple(ranges))

    def active(self, weekday: int, hour: float) -> bool:
        """Whether the restriction applies at local ``hour`` (fractional) of ``weekday``."""
        minute = hour * 60.0
        return any(weekday in days and start <= minute < end for days, start, end in self.ranges)
