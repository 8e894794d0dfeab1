"""Neighbour comparison: average and efficient neighbours, ratings, withholding, messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.energy import MESSAGES, RATINGS, compare, compare_all, row_percentile

ONE_TO_HUNDRED = [float(x) for x in range(1, 101)]


def test_average_is_the_mean_and_efficient_is_numpys_linear_20th_percentile() -> None:
    c = compare(30.0, ONE_TO_HUNDRED)
    assert c is not None
    assert c.average == 50.5
    # Linear interpolation: sorted p[19] + 0.8·(p[20] - p[19]) = 20 + 0.8 = 20.8. Nearest rank
    # would say 20: the rule is pinned.
    assert c.efficient == pytest.approx(20.8)
    assert c.peers == 100


@pytest.mark.parametrize(
    ("usage", "rating"),
    [
        (10.0, "great"),
        (20.8, "great"),  # at the efficient line
        (20.9, "good"),
        (50.5, "good"),  # at the average
        (50.6, "above_average"),
        (400.0, "above_average"),
    ],
)
def test_ratings(usage: float, rating: str) -> None:
    c = compare(usage, ONE_TO_HUNDRED)
    assert c is not None and c.rating == rating


def test_small_groups_get_no_comparison() -> None:
    peers = [100.0, 120.0, 90.0, 300.0, 80.0, 110.0, 95.0, 105.0, 130.0]  # nine
    assert compare(100.0, peers) is None
    c = compare(100.0, [*peers, 99.0])
    assert c is not None and c.peers == 10
    assert compare(100.0, peers, min_peers=5) is not None
    # Peers without usage for the period do not count.
    assert compare(100.0, [*peers, np.nan]) is None
    with pytest.raises(ValueError, match="finite"):
        compare(float("nan"), ONE_TO_HUNDRED)


def test_efficient_with_an_unsorted_small_group() -> None:
    peers = [7.0, 3.0, 9.0, 1.0, 5.0, 2.0, 8.0, 4.0, 10.0, 6.0, 11.0]  # 1..11 shuffled
    c = compare(3.0, peers)
    assert c is not None
    assert c.efficient == pytest.approx(3.0)  # position 0.2·10 = 2: exactly the third value
    assert c.average == pytest.approx(6.0)
    assert c.rating == "great"


def test_praise_for_the_thrifty_encouragement_for_the_rest() -> None:
    great, good, above = (compare(u, ONE_TO_HUNDRED) for u in (5.0, 40.0, 90.0))
    assert great is not None and good is not None and above is not None
    assert great.smileys == 2 and good.smileys == 1 and above.smileys == 0
    assert great.message.startswith("Great") and good.message.startswith("Good")
    # Injunctive approval only for good behaviour, and never a frown for the rest.
    assert "more than your average neighbours" in above.message
    assert set(MESSAGES) == set(RATINGS)


def test_compare_all_matches_compare_row_by_row() -> None:
    rng = np.random.default_rng(11)
    n = 300
    usage = rng.lognormal(5.0, 0.4, n)
    usage[[5, 17]] = np.nan  # no usage for the period
    peer_index = rng.integers(0, n, (n, 40))
    peer_index[rng.random((n, 40)) < 0.3] = -1  # short groups
    peer_index[:20, 8:] = -1  # at most eight peers: withheld
    table = compare_all(usage, peer_index)
    for i in range(n):
        peers = [usage[j] for j in peer_index[i] if j >= 0]
        expected = compare(usage[i], peers) if np.isfinite(usage[i]) else None
        got = table.row(i)
        if expected is None:
            assert got is None and table.withheld[i]
            continue
        assert got is not None
        assert got.rating == expected.rating and got.peers == expected.peers
        assert got.average == pytest.approx(expected.average, rel=1e-12)
        assert got.efficient == pytest.approx(expected.efficient, rel=1e-12)
    assert table.withheld[:20].all() and table.withheld[[5, 17]].all()


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=0, max_size=25
        ),
        min_size=1,
        max_size=8,
    ),
    q=st.floats(min_value=0.0, max_value=100.0),
)
def test_row_percentile_is_numpys_percentile(rows: list[list[float]], q: float) -> None:
    width = max(len(r) for r in rows)
    matrix = np.full((len(rows), max(width, 1)), np.nan)
    for i, r in enumerate(rows):
        matrix[i, : len(r)] = r
    got = row_percentile(matrix, q)
    for i, r in enumerate(rows):
        if r:
            assert got[i] == pytest.approx(np.percentile(r, q), rel=1e-9, abs=1e-6)
        else:
            assert np.isnan(got[i])
