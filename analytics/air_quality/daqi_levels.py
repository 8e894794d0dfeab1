"""What a DAQI value means: its band, Defra's health advice and UK-AIR's colour.

Advice text: Defra / COMEAP via domain.md §1.5 (Low and Moderate rows verified against a council
page copying Defra; the High row and the Very High at-risk text agree in three secondary
sources; the Very High general-population sentence is unverified [M]). At-risk individuals are
adults and children with heart or lung problems. Colours: UK-AIR styling (domain.md §1.5, [V2]).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType


class Band(Enum):
    LOW = "Low"
    MODERATE = "Moderate"
    HIGH = "High"
    VERY_HIGH = "Very High"


@dataclass(frozen=True, slots=True)
class Advice:
    general: str
    """For the general population."""
    at_risk: str
    """For adults and children with lung or heart problems (and older people, from High)."""


_USUAL = "Enjoy your usual outdoor activities."

ADVICE: MappingProxyType[Band, Advice] = MappingProxyType(
    {
        Band.LOW: Advice(general=_USUAL, at_risk=_USUAL),
        Band.MODERATE: Advice(
            general=_USUAL,
            at_risk=(
                "Adults and children with lung problems, and adults with heart problems, who"
                " experience symptoms, should consider reducing strenuous physical activity,"
                " particularly outdoors."
            ),
        ),
        Band.HIGH: Advice(
            general=(
                "Anyone experiencing discomfort such as sore eyes, cough or sore throat should"
                " consider reducing activity, particularly outdoors."
            ),
            at_risk=(
                "Adults and children with lung problems, and adults with heart problems, should"
                " reduce strenuous physical exertion, particularly outdoors, and particularly if"
                " they experience symptoms. People with asthma may find they need to use their"
                " reliever inhaler more often. Older people should also reduce physical"
                " exertion."
            ),
        ),
        Band.VERY_HIGH: Advice(
            general=(
                "Reduce physical exertion, particularly outdoors, especially if you experience"
                " symptoms such as cough or sore throat."
            ),
            at_risk=(
                "Adults and children with lung problems, adults with heart problems, and older"
                " people, should avoid strenuous physical activity. People with asthma may find"
                " they need to use their reliever inhaler more often."
            ),
        ),
    }
)

COLOURS: tuple[str, ...] = (
    "#9CFF9C",
    "#31FF00",
    "#31CF00",
    "#FFFF00",
    "#FFCF00",
    "#FF9A00",
    "#FF6464",
    "#FF0000",
    "#990000",
    "#CE30FF",
)
"""UK-AIR colours of indices 1-10, in order."""


@dataclass(frozen=True, slots=True)
class DaqiLevel:
    """Everything shown next to one DAQI value."""

    index: int
    band: Band
    colour: str
    advice: Advice


def daqi_band(index: int) -> Band:
    """Low 1-3, Moderate 4-6, High 7-9, Very High 10."""
    if not 1 <= index <= 10:
        raise ValueError(f"DAQI runs from 1 to 10, not {index}")
    if index <= 3:
        return Band.LOW
    if index <= 6:
        return Band.MODERATE
    return Band.HIGH if index <= 9 else Band.VERY_HIGH


def daqi_level(index: int) -> DaqiLevel:
    """The band, colour and health advice of a DAQI value."""
    band = daqi_band(index)
    return DaqiLevel(index=index, band=band, colour=COLOURS[index - 1], advice=ADVICE[band])
