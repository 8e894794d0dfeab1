"""Household energy per ward and month, fit to publish (open data) or to show officers. Pure.

A ward's figure for a month is published when at least ``k`` households contribute and none
holds more than half of it (``analytics.privacy``'s primary rules). The month over every ward is
published only when it passes the same rules **and** no ward of the month is withheld.

Why the total gives way rather than more wards (``analytics.privacy.suppress`` would withhold
the smallest published wards instead): the API also publishes each ward's daily totals of its
meters' registers (``/v1/zones/{id}/rollups/smart_meter``), from which a ward's monthly use can
be estimated closely. A ward withheld here only to protect another would not stay hidden, and
the month's total minus the published wards would then give the small ward away. Without a
total, a withheld ward is not the difference of anything published.

Withheld reports are counted by the kind of reason, never by the stored text (which holds
numbers about the household's neighbourhood).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from analytics.privacy import DOMINANCE_SHARE, MIN_CONTRIBUTORS, Reason, primary_reason

WITHHELD_KINDS = (
    "few_similar_homes",
    "missing_readings",
    "no_location",
    "details_unknown",
    "no_usage",
    "other",
)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One ward's (or, with ``ward`` ``None``, every ward's) households in a month."""

    month: date
    ward: str | None
    households: int
    total: float | None
    """``None`` when withheld."""
    mean: float | None
    withheld: Reason | None


@dataclass(frozen=True, slots=True)
class WardValue:
    """What is known of one ward and month before publication."""

    month: date
    ward: str
    contributors: int
    total: float
    largest: float
    """The largest single household's value."""


def publish(
    values: Sequence[WardValue], *, k: int = MIN_CONTRIBUTORS, dominance: float = DOMINANCE_SHARE
) -> tuple[list[Aggregate], list[Aggregate]]:
    """Per-ward figures and per-month totals (in order of first appearance), each published or
    withheld with the reason (see the module)."""
    wards = []
    months: dict[date, list[WardValue]] = {}
    for v in values:
        reason = primary_reason(v.contributors, v.total, v.largest, k=k, dominance=dominance)
        wards.append(_aggregate(v.month, v.ward, v.contributors, v.total, reason))
        months.setdefault(v.month, []).append(v)
    withheld = {w.month for w in wards if w.withheld is not None}
    totals = []
    for month, members in months.items():
        households = sum(m.contributors for m in members)
        total = sum(m.total for m in members)
        reason = primary_reason(
            households, total, max(m.largest for m in members), k=k, dominance=dominance
        )
        if reason is None and month in withheld:
            reason = "complementary"
        totals.append(_aggregate(month, None, households, total, reason))
    return wards, totals


def _aggregate(
    month: date, ward: str | None, households: int, total: float, reason: Reason | None
) -> Aggregate:
    if reason is not None:
        return Aggregate(month, ward, households, None, None, reason)
    mean = total / households if households else None
    return Aggregate(
        month, ward, households, round(total, 3), None if mean is None else round(mean, 3), None
    )


def withheld_kind(reason: str) -> str:
    """The kind of a stored withheld reason (``analytics.nudges`` and ``analytics.energy``
    write them in words)."""
    text = reason.lower()
    if text.startswith("too few similar homes"):
        return "few_similar_homes"
    if "have no readings" in text or "not enough readings" in text:
        return "missing_readings"
    if text.startswith("no location"):
        return "no_location"
    if "not known" in text:
        return "details_unknown"
    if text.startswith("no usage"):
        return "no_usage"
    return "other"
