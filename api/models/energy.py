"""Home energy reports: a household's own (its resident's key), and aggregates for officers."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from analytics.privacy import Reason
from api.models.common import Timestamp, frozen
from api.pagination import Links

Rating = Literal["great", "good", "above_average"]
_REPORT = {
    "programme_id": "home-energy-reports",
    "period": "October 2026",
    "period_start": "2026-10-01",
    "period_end": "2026-11-01",
    "status": "ready",
    "rating": "good",
    "usage_kwh": 241.8,
    "average_kwh": 263.0,
    "efficient_kwh": 198.4,
    "peers": 87,
    "withheld_reason": None,
    "computed_at": "2026-11-02T03:00:00+00:00",
}
_TIP = {"name": "heating", "text": "Turning the thermostat down by one degree saves about 10%."}


class Report(BaseModel):
    """One period's comparison with similar homes (or why there was none)."""

    model_config = frozen(_REPORT)
    programme_id: str
    period: str = Field(description="The period in words")
    period_start: date
    period_end: date = Field(description="Exclusive")
    status: Literal["ready", "withheld"] = Field(
        description="`withheld`: no comparison this period (`withheld_reason` says why)"
    )
    rating: Rating | None = Field(
        description="`great`: at or below the efficient fifth of similar homes; `good`: at or"
        " below their average; `above_average`"
    )
    usage_kwh: float | None = Field(description="The home's use in the period (kWh)")
    average_kwh: float | None = Field(description="Similar homes' mean use (kWh)")
    efficient_kwh: float | None = Field(description="Similar homes' 20th percentile (kWh)")
    peers: int | None = Field(description="How many similar homes it was compared with")
    withheld_reason: str | None
    computed_at: Timestamp


class Tip(BaseModel):
    model_config = frozen(_TIP)
    name: str
    text: str


class ReportDetail(Report):
    """A period's report in full: what the household was sent, in the same words."""

    model_config = frozen(
        {
            **_REPORT,
            "suggestions": [_TIP],
            "insights": [],
            "message": "Your home energy report for October 2026\n\nGood: you used less than"
            " your average neighbours.\n…",
        }
    )
    suggestions: list[Tip]
    insights: list[Tip]
    message: str | None = Field(
        description="The report's text, as the letter says it (`null` when withheld)"
    )


class ReportPage(BaseModel):
    """A household's reports, newest period first."""

    model_config = frozen({"household_id": "hh-0042", "items": [_REPORT], "links": {"next": None}})
    household_id: str
    items: list[Report]
    links: Links


_WARD = {
    "month": "2026-10-01",
    "zone_id": "ward-camden-town",
    "households": 412,
    "compared": 398,
    "delivered": 371,
    "withheld": {"few_similar_homes": 9, "missing_readings": 5},
    "usage_kwh_total": 101264.2,
    "usage_kwh_mean": 254.4,
    "suppressed": None,
}


class WardStatistics(BaseModel):
    """One ward's reports in one month, or every ward's (``zone_id`` ``null``)."""

    model_config = frozen(_WARD)
    month: date = Field(description="First day of the month of the reports' period")
    zone_id: str | None = Field(description="The ward; `null` for the month's total")
    households: int | None = Field(description="Households with a report (`null` when suppressed)")
    compared: int | None = Field(description="Reports with a comparison")
    delivered: int | None = Field(description="Households sent their report by any channel")
    withheld: dict[str, int] | None = Field(
        description="Reports without a comparison, by kind of reason: few_similar_homes,"
        " missing_readings, no_location, details_unknown, no_usage, other"
    )
    usage_kwh_total: float | None
    usage_kwh_mean: float | None = Field(description="Per household with a measured use")
    suppressed: Reason | None = Field(
        description="Why the figures are withheld: `few_contributors` (under 10 households"
        " with a measured use), `dominance` (one household over half the total) or, for a"
        " month's total, `complementary` (a ward of the month is withheld, and the total less"
        " the other wards would give it away)"
    )


class Statistics(BaseModel):
    """Reports of a programme per ward and month, k-anonymous."""

    model_config = frozen(
        {
            "programme_id": "home-energy-reports",
            "disclosure": "published only from 10 households up …",
            "items": [_WARD],
            "totals": [{**_WARD, "zone_id": None}],
        }
    )
    programme_id: str
    disclosure: str
    items: list[WardStatistics]
    totals: list[WardStatistics] = Field(description="Each month over every ward")


_EFFECT = {
    "area": "programme",
    "relative": -0.021,
    "relative_ci": [-0.034, -0.008],
    "absolute_kwh": -5.6,
    "absolute_ci_kwh": [-9.1, -2.2],
    "p_value": 0.002,
    "treated": 1840,
    "control": 1822,
    "excluded": 41,
    "confidence": 0.95,
    "withheld": None,
}


class TrialEffect(BaseModel):
    """The reports' effect on use, by difference in differences (weather-normalised)."""

    model_config = frozen(_EFFECT)
    area: str = Field(description="`programme`, or a zone id")
    relative: float | None = Field(description="-0.021: treated homes used 2.1 % less")
    relative_ci: list[float] | None
    absolute_kwh: float | None = Field(description="Per household and period")
    absolute_ci_kwh: list[float] | None
    p_value: float | None
    treated: int | None
    control: int | None
    excluded: int | None
    confidence: float | None
    withheld: Literal["too_few_households", "few_contributors"] | None = Field(
        description="`too_few_households`: an arm too small to estimate;"
        " `few_contributors`: under 10 households in an arm, not shown"
    )


_TRIAL = {
    "programme_id": "home-energy-reports",
    "pre_start": "2026-01-01",
    "pre_end": "2026-02-01",
    "post_start": "2026-10-01",
    "post_end": "2026-11-01",
    "households": 3703,
    "estimated_at": "2026-11-03T09:12:00+00:00",
    "programme": _EFFECT,
    "zones": [{**_EFFECT, "area": "ward-camden-town"}],
}


class TrialResult(BaseModel):
    model_config = frozen(_TRIAL)
    programme_id: str
    pre_start: date
    pre_end: date
    post_start: date
    post_end: date
    households: int = Field(description="Households assigned to an arm")
    estimated_at: Timestamp
    programme: TrialEffect
    zones: list[TrialEffect]


class TrialList(BaseModel):
    """Stored trial estimates, newest post period first."""

    model_config = frozen({"items": [_TRIAL]})
    items: list[TrialResult]
