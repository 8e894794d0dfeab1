"""Similar homes: same fuel, type and band, nearest first, widening to a limit, never oneself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from analytics.energy import Homes, PeerRules, PeerStatus, find_peers
from analytics.energy.peers import EARTH_RADIUS_M, LONDON_LATITUDE, planar_xy

LAT0, LON0 = 51.5, -0.12
M_PER_DEG_LAT = EARTH_RADIUS_M * np.pi / 180.0
M_PER_DEG_LON = M_PER_DEG_LAT * np.cos(np.radians(LONDON_LATITUDE))


def street(
    east_m: list[float],
    north_m: list[float] | None = None,
    *,
    fuel: Sequence[str | None] | None = None,
    kind: Sequence[str | None] | None = None,
    band: Sequence[str | None] | None = None,
) -> Homes:
    n = len(east_m)
    north = north_m if north_m is not None else [0.0] * n
    return Homes.from_labels(
        LAT0 + np.asarray(north) / M_PER_DEG_LAT,
        LON0 + np.asarray(east_m) / M_PER_DEG_LON,
        fuel if fuel is not None else ["gas"] * n,
        kind if kind is not None else ["terrace"] * n,
        band if band is not None else ["50-100"] * n,
    )


def test_peers_are_the_nearest_similar_homes_excluding_oneself() -> None:
    homes = street([100.0 * i for i in range(30)])
    groups = find_peers(homes, rules=PeerRules(target=5, min_peers=3))
    np.testing.assert_allclose(groups.distance_m[10], [100, 100, 200, 200, 300], rtol=1e-6)
    assert {8, 9, 11, 12} < set(groups.index[10].tolist())  # and 7 or 13: a tie at 300 m
    assert 10 not in groups.index[10]
    assert list(groups.index[0]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(groups.distance_m[0], [100, 200, 300, 400, 500], rtol=1e-6)
    assert groups.radius_m[0] == pytest.approx(500.0, rel=1e-6)
    assert (groups.count == 5).all() and not groups.withheld.any()


def test_only_the_same_fuel_type_and_band_are_similar() -> None:
    east = [10.0 * i for i in range(40)]
    fuel = ["gas", "electric"] * 20
    kind = ["terrace"] * 20 + ["flat"] * 20
    band = (["50-100"] * 10 + ["100-150"] * 10) * 2
    homes = street(east, fuel=fuel, kind=kind, band=band)
    groups = find_peers(homes, rules=PeerRules(target=10, min_peers=2))
    for i in range(40):
        peers = groups.index[i][groups.index[i] >= 0]
        assert len(peers) == 4  # five of each (fuel, type, band) combination
        for j in peers:
            assert (fuel[j], kind[j], band[j]) == (fuel[i], kind[i], band[i])


def test_the_circle_widens_for_sparse_homes_up_to_the_limit() -> None:
    dense = [float(i) for i in range(-20, 21)]  # 41 homes one metre apart
    sparse = [5000.0 + 150.0 * i for i in range(12)]  # 12 homes 150 m apart, 5 km away
    homes = street(dense + sparse)
    groups = find_peers(homes, rules=PeerRules(target=10, min_peers=5))
    assert groups.radius_m[20] == pytest.approx(5.0, rel=1e-6)  # the middle of the dense row
    assert groups.radius_m[41] == pytest.approx(1500.0, rel=1e-6)  # first sparse home
    assert all(j >= 41 for j in groups.index[41])  # never the dense row 5 km away


def test_too_few_similar_homes_withholds_with_the_reason() -> None:
    homes = street([0.0, 300.0, 600.0, 900.0, 1200.0, 1500.0, 2000.0, 2500.0])
    groups = find_peers(homes)
    assert groups.status[0] == PeerStatus.TOO_FEW
    assert groups.count[0] == 6  # the home at exactly 2 km counts, 2.5 km does not
    assert groups.reason(0) == "too few similar homes: 6 within 2 km (at least 10 needed)"
    wider = find_peers(homes, rules=PeerRules(min_peers=5, max_radius_m=1500.0))
    assert wider.reason(0) is None and wider.count[0] == 5
    short = find_peers(homes, rules=PeerRules(min_peers=10, max_radius_m=500.0))
    assert short.reason(0) == "too few similar homes: 1 within 500 m (at least 10 needed)"


def test_homes_without_location_or_details_are_withheld() -> None:
    homes = street(
        [0.0, 1.0, 2.0, 3.0],
        fuel=["gas", None, "gas", "gas"],
        band=["50-100", "50-100", "huge", "50-100"],
    )
    homes = Homes(
        latitude=np.r_[homes.latitude[:3], np.nan],
        longitude=homes.longitude,
        heating_fuel=homes.heating_fuel,
        property_type=homes.property_type,
        floor_area_band=homes.floor_area_band,
    )
    groups = find_peers(homes, rules=PeerRules(target=3, min_peers=1))
    assert groups.reason(1) == "heating fuel, property type or floor area not known"
    assert groups.reason(2) == "heating fuel, property type or floor area not known"
    assert groups.reason(3) == "no location for this home"
    assert groups.status[0] == PeerStatus.TOO_FEW  # nobody similar is left
    assert (groups.index[:, :] == -1).all()


def test_flats_in_one_block_are_each_others_peers() -> None:
    homes = street([0.0] * 15, kind=["flat"] * 15)
    groups = find_peers(homes, rules=PeerRules(target=10, min_peers=5))
    for i in range(15):
        assert i not in groups.index[i]
        assert groups.count[i] == 10
        assert (groups.distance_m[i] == 0.0).all()


def test_matches_brute_force_on_a_random_city() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    homes = Homes(
        latitude=LAT0 + rng.uniform(-0.03, 0.03, n),
        longitude=LON0 + rng.uniform(-0.05, 0.05, n),
        heating_fuel=rng.integers(0, 2, n),
        property_type=rng.integers(0, 2, n),
        floor_area_band=rng.integers(1, 3, n),
    )
    rules = PeerRules(target=30, min_peers=10, max_radius_m=1500.0)
    groups = find_peers(homes, rules=rules)
    xy = planar_xy(homes.latitude, homes.longitude, LONDON_LATITUDE)
    codes = np.column_stack([homes.heating_fuel, homes.property_type, homes.floor_area_band])
    for i in rng.choice(n, 60, replace=False):
        same = (codes == codes[i]).all(axis=1)
        same[i] = False
        d = np.hypot(*(xy[same] - xy[i]).T)
        expected = np.sort(d[d <= rules.max_radius_m])[: rules.target]
        got = groups.distance_m[i][groups.index[i] >= 0]
        np.testing.assert_allclose(got, expected, rtol=1e-9)
        assert groups.withheld[i] == (expected.size < rules.min_peers)


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="min_peers"):
        PeerRules(target=5, min_peers=10)
