"""The five pollutants the air-quality indices cover, by the field names air-quality monitors
publish (``devices/types/air_quality.py``). Every concentration here is in µg/m³."""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

from civicpulse.errors import UsageError

Pollutant = Literal["o3", "no2", "so2", "pm25", "pm10"]

# Also the order in which ties are named: when two pollutants set the same overall index, the
# one earlier here is reported first (an arbitrary but fixed choice, so reports do not flicker).
POLLUTANTS: tuple[Pollutant, ...] = get_args(Pollutant)

NAMES: dict[Pollutant, str] = {
    "o3": "Ozone",
    "no2": "Nitrogen dioxide",
    "so2": "Sulphur dioxide",
    "pm25": "PM2.5 particles",
    "pm10": "PM10 particles",
}


class UnknownPollutantError(UsageError, ValueError):
    """A pollutant name outside :data:`POLLUTANTS` (or outside what an index covers).

    A ``ValueError`` too, so callers validating arguments can catch either."""

    def __init__(self, pollutant: str, allowed: tuple[str, ...] = POLLUTANTS) -> None:
        super().__init__(f"pollutant {pollutant!r}", f"must be one of {', '.join(allowed)}")
        self.pollutant = pollutant
        self.allowed = allowed


def is_pollutant(name: str) -> TypeGuard[Pollutant]:
    return name in POLLUTANTS


def pollutant(name: str) -> Pollutant:
    """``name`` as a :data:`Pollutant`, or :class:`UnknownPollutantError`."""
    if not is_pollutant(name):
        raise UnknownPollutantError(name)
    return name
