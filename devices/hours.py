"""Controlled parking hours as councils write them: parsing and lookup. Pure.

``"Mon-Sat 08:30-18:30"``, ``"Mon-Fri 08:30-18:30, Sat 08:30-13:30"`` (several day ranges),
``"Mon-Fri 07:00-10:00 16:00-19:00"`` (several times a day), ``"At any time"`` / ``"24/7"``, and
``"none"``. The registry validates bay attributes with it; the simulators and parking analytics
ask it whether a restriction applies at a local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+(?P<times>.+)$")
_TIME = re.compile(r"^(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})$")
EXAMPLE = "'Mon-Fri 08:30-18:30, Sat 08:30-13:30', '24/7' or 'none'"


@dataclass(frozen=True, slots=True)
class ControlledHours:
    """When a bay's restriction applies: per weekday (0 = Monday), minute ranges of the day."""

    text: str
    ranges: tuple[tuple[frozenset[int], int, int], ...]

    @classmethod
    def parse(cls, text: str | None) -> ControlledHours:
        """Read an expression (see the module); ``ValueError`` says what it cannot read."""
        raw = (text or "").strip()
        lowered = raw.lower()
        if lowered in ("", "none", "uncontrolled"):
            return cls(raw, ())
        if lowered in ("at any time", "any time", "24/7"):
            return cls(raw, ((frozenset(range(7)), 0, 24 * 60),))
        ranges = []
        for part in lowered.replace(";", ",").split(","):
            match = _PART.match(part.strip())
            if match is None or match["d1"] not in _DAYS or (match["d2"] or "mon") not in _DAYS:
                raise ValueError(f"cannot read {part.strip()!r} in {raw!r}; write like {EXAMPLE}")
            first = _DAYS.index(match["d1"])
            last = _DAYS.index(match["d2"]) if match["d2"] else first
            days = (
                frozenset(range(first, last + 1))
                if last >= first
                else frozenset(list(range(first, 7)) + list(range(last + 1)))
            )
            for times in match["times"].split():
                found = _TIME.match(times)
                if found is None:
                    raise ValueError(
                        f"cannot read the times {times!r} in {raw!r}; write HH:MM-HH:MM"
                    )
                start = int(found["h1"]) * 60 + int(found["m1"])
                end = int(found["h2"]) * 60 + int(found["m2"])
                if (
                    int(found["m1"]) > 59
                    or int(found["m2"]) > 59
                    or not 0 <= start < end <= 24 * 60
                ):
                    raise ValueError(f"{times!r} in {raw!r} is not a time range within a day")
                ranges.append((days, start, end))
        return cls(raw, tuple(ranges))

    def active(self, weekday: int, hour: float) -> bool:
        """Whether the restriction applies at local ``hour`` (fractional) of ``weekday``."""
        minute = hour * 60.0
        return any(weekday in days and start <= minute < end for days, start, end in self.ranges)
