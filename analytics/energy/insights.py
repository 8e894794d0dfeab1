"""Insights beyond the headline, and one or two concrete things to try.

Four insights, each against similar homes (the comparison group of :mod:`.peers`):

- **baseload**: night-time always-on load in W (:func:`.profile.baseload_w`);
- **evening peak**: share of use between 16:00 and 19:00 (:func:`.profile.evening_share`);
- **heating**: the heating slope beta of the weather fit, use per degree day (:mod:`.prism`);
- **last year**: change from the same period last year, both weather-normalised.

Consent decides what may be said [domain.md §4.5]: baseload and evening peak need half-hourly
readings, heating needs daily readings; without them the insight is *unavailable* with the
reason, never estimated from coarser data. A missing input is unavailable with its reason too.

Suggestions come from a small rule table, in order of the savings they usually bring (heating
first, then always-on load, then timing, then the trend); the first ``max_suggestions`` (2) that
fire are given. A peer-based rule fires in the top quartile of similar homes (peer rank ≥ 0.75),
the trend rule at 10 % more than last year. No rule firing means no suggestion: the headline's
praise is the message then.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Consent = Literal["monthly", "daily", "half_hourly"]
InsightName = Literal["heating", "baseload", "evening_peak", "last_year"]
HOURS_PER_YEAR = 8766.0


@dataclass(frozen=True, slots=True)
class Measure:
    """One household's figure and where it sits among similar homes."""

    value: float
    peer_rank: float | None = None
    """Share of similar homes below it (:func:`.profile.peer_rank`)."""
    peer_median: float | None = None


@dataclass(frozen=True, slots=True)
class InsightInputs:
    consent: Consent
    baseload_w: Measure | None = None
    evening_share: Measure | None = None
    heating_slope: Measure | None = None
    """kWh per degree day: beta of the weather fit (:mod:`.prism`), gas converted to kWh."""
    usage: float | None = None
    """This period's weather-normalised use."""
    usage_last_year: float | None = None
    """The same period last year, weather-normalised."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    top: float = 0.75
    """Peer rank from which a figure is "more than most similar homes"."""
    bottom: float = 0.25
    rise: float = 0.10
    """Change on last year from which use "went up"."""


@dataclass(frozen=True, slots=True)
class Insight:
    name: InsightName
    value: float
    peer_rank: float | None
    peer_median: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    name: InsightName
    reason: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    name: InsightName
    text: str


@dataclass(frozen=True, slots=True)
class Insights:
    insights: tuple[Insight, ...]
    unavailable: tuple[Unavailable, ...]
    suggestions: tuple[Suggestion, ...]


def _among_peers(rank: float | None, t: Thresholds) -> str:
    if rank is None or not math.isfinite(rank):
        return ""
    if rank >= t.top:
        return f", more than {rank:.0%} of similar homes"
    if rank <= t.bottom:
        return f", less than {1 - rank:.0%} of similar homes"
    return ", about the same as similar homes"


def _baseload_advice(i: Insight) -> str:
    saving = ""
    if i.peer_median is not None and i.value > i.peer_median:
        kwh = (i.value - i.peer_median) * HOURS_PER_YEAR / 1000.0
        saving = f" Bringing it down to a typical {i.peer_median:.0f} W would save about {kwh:,.0f} kWh a year."
    return (
        f"Your home uses about {i.value:.0f} W even in the middle of the night, more than most "
        "similar homes. Check for devices left on standby, a second fridge or freezer, or a "
        f"dehumidifier or pump that runs all the time.{saving}"
    )


@dataclass(frozen=True, slots=True)
class Rule:
    insight: InsightName
    fires: Callable[[Insight, Thresholds], bool]
    advice: Callable[[Insight], str]


def _high(i: Insight, t: Thresholds) -> bool:
    return i.peer_rank is not None and i.peer_rank >= t.top


RULES: tuple[Rule, ...] = (
    Rule(
        "heating",
        _high,
        lambda i: (
            "Your heating use rises more on cold days than in most similar homes. Turning "
            "the thermostat down by one degree, timing the heating to when you are in, and "
            "draught-proofing doors and windows usually help most."
        ),
    ),
    Rule("baseload", _high, _baseload_advice),
    Rule(
        "evening_peak",
        _high,
        lambda i: (
            f"About {i.value:.0%} of your use falls between 4 pm and 7 pm, more than in "
            "most similar homes. Running the washing machine, dishwasher or tumble dryer later in "
            "the evening eases the local grid at its busiest and costs less on a time-of-use tariff."
        ),
    ),
    Rule(
        "last_year",
        lambda i, t: i.value >= t.rise,
        lambda i: (
            f"You used {i.value:.0%} more than in the same period last year, allowing for "
            "the weather. Has something changed: a new appliance, more time at home, the heating "
            "schedule? Finding it is the first step to bringing use back down."
        ),
    ),
)


def _measure(
    name: InsightName, m: Measure | None, allowed: bool, needs: str, consent: Consent
) -> Insight | Unavailable:
    if not allowed:
        return Unavailable(name, f"needs {needs} readings; this home shares {consent} readings")
    if m is None or not math.isfinite(m.value):
        return Unavailable(name, f"not enough {needs} readings this period")
    return Insight(name, m.value, m.peer_rank, m.peer_median, "")


def _describe(i: Insight, t: Thresholds) -> Insight:
    among = _among_peers(i.peer_rank, t)
    text = {
        "heating": f"Heating: {i.value:.2f} kWh more on each degree day{among}",
        "baseload": f"Always-on use at night: {i.value:.0f} W{among}",
        "evening_peak": f"Use between 4 pm and 7 pm: {i.value:.0%} of the day{among}",
        "last_year": f"Compared with the same period last year: {i.value:+.0%}",
    }[i.name]
    return Insight(i.name, i.value, i.peer_rank, i.peer_median, text)


def household_insights(
    inputs: InsightInputs, *, thresholds: Thresholds = Thresholds(), max_suggestions: int = 2
) -> Insights:
    """The insights allowed and available for one household, and up to two suggestions."""
    half_hourly = inputs.consent == "half_hourly"
    daily = inputs.consent in ("daily", "half_hourly")
    found: list[Insight | Unavailable] = [
        _measure("heating", inputs.heating_slope, daily, "daily", inputs.consent),
        _measure("baseload", inputs.baseload_w, half_hourly, "half-hourly", inputs.consent),
        _measure("evening_peak", inputs.evening_share, half_hourly, "half-hourly", inputs.consent),
    ]
    now, then = inputs.usage, inputs.usage_last_year
    if now is None or then is None or not (math.isfinite(now) and math.isfinite(then) and then > 0):
        found.append(Unavailable("last_year", "no comparable use for the same period last year"))
    else:
        found.append(Insight("last_year", (now - then) / then, None, None, ""))
    insights = {i.name: _describe(i, thresholds) for i in found if isinstance(i, Insight)}
    suggestions = [
        Suggestion(rule.insight, rule.advice(insights[rule.insight]))
        for rule in RULES
        if rule.insight in insights and rule.fires(insights[rule.insight], thresholds)
    ]
    return Insights(
        insights=tuple(insights.values()),
        unavailable=tuple(i for i in found if isinstance(i, Unavailable)),
        suggestions=tuple(suggestions[:max_suggestions]),
    )
