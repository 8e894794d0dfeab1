"""Household energy per ward and month, fit to publish: wards withheld under 10 households or
when one dominates, a month's total only when no ward of it is withheld (it would give the
withheld ones away), exact figures, and withheld reasons counted by kind, never by their text."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.zone_energy import Aggregate, WardValue, publish, withheld_kind

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)


def test_a_small_ward_withholds_the_months_total() -> None:
    wards, totals = publish(
        [
            WardValue(OCT, "ward-a", 11, 1100.0, 150.0),
            WardValue(OCT, "ward-b", 3, 300.0, 110.0),
            WardValue(OCT, "ward-c", 11, 2640.0, 290.0),
        ]
    )
    assert wards == [
        Aggregate(OCT, "ward-a", 11, 1100.0, 100.0, None),
        Aggregate(OCT, "ward-b", 3, None, None, "few_contributors"),
        Aggregate(OCT, "ward-c", 11, 2640.0, 240.0, None),
    ]
    # The total less wards A and C would be ward B's three homes.
    assert totals == [Aggregate(OCT, None, 25, None, None, "complementary")]


def test_one_household_over_half_of_a_ward_withholds_it() -> None:
    wards, totals = publish(
        [
            WardValue(OCT, "ward-a", 12, 1000.0, 600.0),
            WardValue(OCT, "ward-b", 12, 1200.0, 150.0),
        ]
    )
    assert [(w.ward, w.withheld) for w in wards] == [("ward-a", "dominance"), ("ward-b", None)]
    assert totals[0].withheld == "complementary"


def test_a_month_with_every_ward_published_has_its_total() -> None:
    wards, totals = publish(
        [WardValue(OCT, "ward-a", 10, 1000.0, 120.0), WardValue(OCT, "ward-b", 15, 3000.0, 400.0)]
    )
    assert [w.withheld for w in wards] == [None, None]
    assert totals == [Aggregate(OCT, None, 25, 4000.0, 160.0, None)]
    # A total is held to the same rules: one household over half of it.
    _, dominated = publish(
        [WardValue(OCT, "ward-a", 10, 100.0, 40.0), WardValue(OCT, "ward-b", 10, 100.0, 40.0)],
        dominance=0.15,
    )
    assert dominated[0].withheld == "dominance"


def test_months_are_separate_groups() -> None:
    wards, totals = publish(
        [
            WardValue(OCT, "ward-a", 10, 1000.0, 120.0),
            WardValue(NOV, "ward-a", 4, 400.0, 120.0),
        ]
    )
    assert [(w.month, w.withheld) for w in wards] == [(OCT, None), (NOV, "few_contributors")]
    assert [(t.month, t.households, t.withheld) for t in totals] == [
        (OCT, 10, None),
        (NOV, 4, "few_contributors"),
    ]
    assert wards[0].mean == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("too few similar homes: 3 within 2 km (at least 10 needed)", "few_similar_homes"),
        ("too few similar homes with readings for this period: 4 (at least 10 needed)",
         "few_similar_homes"),
        ("12 days of this period have no readings", "missing_readings"),
        ("not enough readings to allow for the weather: 20 days of history", "missing_readings"),
        ("no location for this home", "no_location"),
        ("heating fuel, property type or floor area not known", "details_unknown"),
        ("no usage for this period", "no_usage"),
        ("no comparison", "other"),
    ],
)  # fmt: skip
def test_withheld_reasons_by_kind(reason: str, kind: str) -> None:
    assert withheld_kind(reason) == kind
