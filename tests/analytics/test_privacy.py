"""k-anonymity for zone aggregates: primary and secondary suppression."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.privacy import Cell, primary_reason, suppress


def zone(key: str, contributors: int, total: float, largest: float, group: str = "city") -> Cell:
    return Cell(key, contributors, total, largest, group)


def test_small_and_dominated_cells_are_suppressed() -> None:
    assert primary_reason(9, 900.0, 150.0, k=10, dominance=0.5) == "few_contributors"
    assert primary_reason(10, 900.0, 150.0, k=10, dominance=0.5) is None
    assert primary_reason(40, 1000.0, 501.0, k=10, dominance=0.5) == "dominance"
    assert primary_reason(40, 1000.0, 500.0, k=10, dominance=0.5) is None  # exactly half: shown
    assert primary_reason(4, 100.0, 30.0, k=3, dominance=0.5) is None  # configurable k


def test_one_suppressed_cell_takes_the_next_smallest_with_it() -> None:
    cells = [
        zone("A", 120, 36_000.0, 900.0),
        zone("B", 6, 1_900.0, 400.0),  # too few households
        zone("C", 45, 12_000.0, 700.0),  # the smallest published cell
        zone("D", 80, 25_000.0, 800.0),
    ]
    result = suppress(cells)
    decisions = {d.key: (d.published, d.reason) for d in result.cells}
    assert decisions == {
        "A": (True, None),
        "B": (False, "few_contributors"),
        "C": (False, "complementary"),
        "D": (True, None),
    }
    assert [(t.key, t.published) for t in result.totals] == [("city", True)]
    assert result.published() == {"A", "D"}


def test_two_suppressed_cells_whose_sum_is_safe_need_no_complement() -> None:
    cells = [
        zone("A", 120, 36_000.0, 900.0),
        zone("B", 6, 1_900.0, 400.0),
        zone("C", 8, 2_500.0, 500.0),  # B + C: 14 households, no one dominant
        zone("D", 80, 25_000.0, 800.0),
    ]
    result = suppress(cells)
    assert result.published() == {"A", "D"}
    assert [d.reason for d in result.cells] == [None, "few_contributors", "few_contributors", None]


def test_suppressed_cells_whose_sum_is_still_unsafe_take_more() -> None:
    cells = [
        zone("A", 120, 36_000.0, 900.0),
        zone("B", 3, 900.0, 400.0),
        zone("C", 4, 1_300.0, 500.0),  # B + C: 7 households, fewer than 10
        zone("D", 80, 25_000.0, 800.0),
        zone("E", 30, 9_000.0, 600.0),  # the smallest published: taken
    ]
    result = suppress(cells)
    assert result.published() == {"A", "D"}
    assert [d.reason for d in result.cells][4] == "complementary"


def test_groups_are_independent_and_a_withheld_total_needs_no_complement() -> None:
    cells = [
        zone("N1", 50, 15_000.0, 600.0, "north"),
        zone("N2", 5, 1_500.0, 400.0, "north"),
        zone("N3", 60, 16_000.0, 700.0, "north"),
        zone("S1", 4, 1_000.0, 300.0, "south"),
        zone("S2", 4, 1_200.0, 400.0, "south"),  # the whole south: 8 households
    ]
    result = suppress(cells)
    assert result.published() == {"N3"}
    totals = {t.key: (t.published, t.reason) for t in result.totals}
    assert totals == {"north": (True, None), "south": (False, "few_contributors")}
    reasons = {d.key: d.reason for d in result.cells}
    assert reasons["N1"] == "complementary"  # N1 is smaller than N3
    assert reasons["S1"] == reasons["S2"] == "few_contributors"


def test_thresholds_are_configurable() -> None:
    cells = [zone("A", 6, 600.0, 100.0), zone("B", 7, 700.0, 100.0), zone("C", 8, 800.0, 500.0)]
    assert suppress(cells, k=5, dominance=0.7).published() == {"A", "B", "C"}
    # At the default dominance C's largest household holds 62.5 % of it; A, the smallest
    # published cell, goes with it, and A + C (500 of 1,400) no longer reveals that household.
    result = suppress(cells, k=5)
    assert result.published() == {"B"}
    assert [d.reason for d in result.cells] == ["complementary", None, "dominance"]
    assert suppress(cells).published() == set()  # k = 10: every zone is too small


cell_strategy = st.builds(
    lambda c, t, share: (c, t, t * share),
    st.integers(1, 40),
    st.floats(10.0, 10_000.0),
    st.floats(0.01, 1.0),
)


@given(st.lists(cell_strategy, min_size=1, max_size=8))
def test_nothing_suppressed_can_be_recovered_from_the_total(
    raw: list[tuple[int, float, float]],
) -> None:
    cells = [zone(f"z{i}", c, t, max(lg, t / c)) for i, (c, t, lg) in enumerate(raw)]
    result = suppress(cells)
    hidden = [c for c, d in zip(cells, result.cells, strict=True) if not d.published]
    assert all(
        d.published
        == (primary_reason(c.contributors, c.total, c.largest, k=10, dominance=0.5) is None)
        for c, d in zip(cells, result.cells, strict=True)
        if d.reason != "complementary"
    )
    if result.totals[0].published and hidden:
        # What subtraction reveals, the suppressed cells' sum, passes the primary rules itself.
        assert len(hidden) >= 2
        assert (
            primary_reason(
                sum(c.contributors for c in hidden),
                sum(c.total for c in hidden),
                max(c.largest for c in hidden),
                k=10,
                dominance=0.5,
            )
            is None
        )
    # Any published cell is safe on its own.
    for c, d in zip(cells, result.cells, strict=True):
        if d.published:
            assert c.contributors >= 10


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_decision_does_not_depend_on_the_order_of_cells(order: tuple[int, ...]) -> None:
    cells = [
        zone("A", 50, 9_000.0, 300.0),
        zone("B", 3, 800.0, 300.0),
        zone("C", 50, 9_000.0, 300.0),
    ]
    shuffled = [cells[i] for i in order]
    assert suppress(shuffled).published() == {"C"}  # equal totals: the tie goes by key
