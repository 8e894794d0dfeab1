"""The monthly run: fit, normalise, find similar homes and compare, for a whole city at once."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.energy import (
    FitStatus,
    Homes,
    PeerRules,
    compare,
    heating_degree_days_array,
    monthly_run,
    neighbour_comparisons,
    normal_degree_days,
)


def _city(n: int, seed: int) -> tuple[Homes, np.ndarray, np.ndarray, np.ndarray]:
    """Homes in a 6 km x 6 km square, and 13 months of daily use driven by a shared weather."""
    rng = np.random.default_rng(seed)
    homes = Homes(
        latitude=51.5 + rng.uniform(-0.027, 0.027, n),
        longitude=-0.12 + rng.uniform(-0.043, 0.043, n),
        heating_fuel=rng.choice(3, n, p=[0.8, 0.15, 0.05]),
        property_type=rng.integers(0, 4, n),
        floor_area_band=rng.choice(4, n, p=[0.15, 0.5, 0.25, 0.1]),
    )
    days = np.arange(395)
    mean = 10.5 - 6.5 * np.cos(2 * np.pi * (days - 15) / 365) + rng.normal(0, 2.5, days.size)
    spread = rng.uniform(4.0, 10.0, days.size)
    tmax, tmin = mean + spread / 2, mean - spread / 2
    alpha = rng.lognormal(np.log(8.0), 0.3, n)
    beta = rng.lognormal(np.log(3.0), 0.4, n) * (homes.heating_fuel != 2)
    hdd = heating_degree_days_array(tmax, tmin)
    use = (alpha[:, None] + beta[:, None] * hdd[None, :]) * rng.lognormal(0, 0.15, (n, days.size))
    use[rng.random(use.shape) < 0.03] = np.nan
    return homes, use, tmax, tmin


def test_the_monthly_run_compares_every_household_with_its_similar_homes() -> None:
    homes, use, tmax, tmin = _city(4000, seed=21)
    use[7, :-40] = np.nan  # a new customer: 40 days of history in all, 10 before the month
    history, period = slice(0, 365), slice(365, 395)
    homes.latitude[9] = np.nan
    normal = normal_degree_days(tmax[period] + 1.0, tmin[period] + 1.0, np.arange(12.0, 18.6, 0.5))
    rules = PeerRules(target=50, min_peers=10, max_radius_m=1500.0)
    run = monthly_run(
        homes,
        use[:, history],
        tmax[history],
        tmin[history],
        use[:, period],
        tmax[period],
        tmin[period],
        normal,
        peer_rules=rules,
    )
    table = run.report.comparisons
    assert 1.0 - table.withheld.mean() > 0.8  # most households get their comparison
    usage = run.normalised.usage
    for i in np.random.default_rng(0).choice(4000, 50, replace=False):
        peers = run.report.peers.index[i]
        expected = compare(usage[i], usage[peers[peers >= 0]].tolist(), min_peers=10)
        got = table.row(int(i))
        assert (got is None) == (expected is None or run.report.peers.withheld[i])
        if got is not None and expected is not None:
            assert got.rating == expected.rating
            assert got.efficient == pytest.approx(expected.efficient)
    assert run.fit.status[7] == FitStatus.TOO_FEW_DAYS
    assert run.reason(7) == "not enough readings to allow for the weather: 10 days of history"
    assert run.reason(9) == "no location for this home"
    for i in np.flatnonzero(table.withheld):
        assert run.reason(int(i))  # every withheld household says why
    shown = np.flatnonzero(~table.withheld)
    assert run.reason(int(shown[0])) is None
    # Ratings spread as designed: about 20 % great, most of the rest good or above average.
    ratings = table.rating[shown]
    assert 0.15 < (ratings == 0).mean() < 0.3


def test_reasons_when_the_period_has_no_usage() -> None:
    homes = Homes.from_labels(
        [51.5] * 12, [-0.12 + 0.0001 * i for i in range(12)], ["gas"] * 12, ["flat"] * 12,
        ["<50"] * 12,
    )  # fmt: skip
    usage = np.array([100.0, np.nan, *([np.nan] * 3), *([90.0] * 7)])
    report = neighbour_comparisons(homes, usage, rules=PeerRules(target=20, min_peers=10))
    assert report.reason(1) == "no usage for this period"
    assert report.reason(0) == (
        "too few similar homes with readings for this period: 7 (at least 10 needed)"
    )
    lenient = neighbour_comparisons(homes, usage, rules=PeerRules(target=20, min_peers=5))
    assert lenient.reason(0) is None
    row = lenient.comparisons.row(0)
    assert row is not None and row.rating == "above_average" and row.peers == 7
