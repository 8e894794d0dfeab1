"""Similar homes: each household's comparison group.

Opower compares a home with "about 100 neighbours whose homes are close in proximity … and
similar in size and characteristics … and heating source", and shows no comparison when it
cannot find enough [domain.md §4.1, V: SMECO FAQ, Oracle docs]. Here:

- **similar** = the same heating fuel, the same property type and the same floor-area band
  ("<50", "50-100", "100-150", ">150" m²). Bands are never widened: size drives use more than
  anything after fuel, and mixing bands would make the "efficient neighbours" the smaller homes;
- **neighbours** = the ``target`` (100) nearest similar homes, by planar distance (an
  equirectangular projection at London's latitude: under 0.1 % error across a city). The search
  circle grows from the home until it holds ``target`` similar homes or reaches
  ``max_radius_m`` (2 km): a dense terrace street gets a tight group, a sparse suburb a wider
  one, and no group reaches across the city;
- fewer than ``min_peers`` (10) within ``max_radius_m``: the comparison is **withheld with a
  reason** ("too few similar homes: 6 within 2 km (at least 10 needed)"); so are homes without
  a location or with unknown fuel, type or band;
- a home is never its own peer (homes sharing coordinates, flats in one block, are still each
  other's peers).

**Contract:** the caller passes only households whose consent allows their data to be used for
comparisons; every home passed in may be a peer. One k-d tree (``scipy.spatial.cKDTree``) per
(fuel, type, band) group makes 100,000 homes a matter of seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from analytics.energy.calendar import Floats, Ints

FUELS = ("gas", "electric", "other")
PROPERTY_TYPES = ("detached", "semi", "terrace", "flat")
FLOOR_AREA_BANDS = ("<50", "50-100", "100-150", ">150")
EARTH_RADIUS_M = 6_371_008.8
LONDON_LATITUDE = 51.5


def label_codes(labels: Sequence[str | None], choices: Sequence[str]) -> Ints:
    """Index of each label in ``choices``; -1 for ``None`` or an unknown label."""
    lookup = {c: i for i, c in enumerate(choices)}
    return np.fromiter(
        (lookup.get(x, -1) if x is not None else -1 for x in labels), np.int64, len(labels)
    )


@dataclass(frozen=True, slots=True)
class Homes:
    """Households to group (arrays aligned; category codes index the module's tuples, -1 =
    unknown)."""

    latitude: Floats
    longitude: Floats
    heating_fuel: Ints
    property_type: Ints
    floor_area_band: Ints

    @classmethod
    def from_labels(
        cls,
        latitude: ArrayLike,
        longitude: ArrayLike,
        heating_fuel: Sequence[str | None],
        property_type: Sequence[str | None],
        floor_area_band: Sequence[str | None],
    ) -> Homes:
        return cls(
            latitude=np.asarray(latitude, dtype=np.float64),
            longitude=np.asarray(longitude, dtype=np.float64),
            heating_fuel=label_codes(heating_fuel, FUELS),
            property_type=label_codes(property_type, PROPERTY_TYPES),
            floor_area_band=label_codes(floor_area_band, FLOOR_AREA_BANDS),
        )

    def __len__(self) -> int:
        return int(self.latitude.size)


@dataclass(frozen=True, slots=True)
class PeerRules:
    target: int = 100
    min_peers: int = 10
    max_radius_m: float = 2_000.0
    reference_latitude: float = LONDON_LATITUDE

    def __post_init__(self) -> None:
        if not 1 <= self.min_peers <= self.target:
            raise ValueError(f"need 1 <= min_peers ({self.min_peers}) <= target ({self.target})")


DEFAULT_PEER_RULES = PeerRules()


class PeerStatus(IntEnum):
    OK = 0
    NO_LOCATION = 1
    UNKNOWN_DETAILS = 2
    TOO_FEW = 3


def _distance_text(metres: float) -> str:
    if metres < 1000:
        return f"{metres:.0f} m"
    return f"{metres / 1000:.3g} km"


@dataclass(frozen=True, slots=True)
class PeerGroups:
    """Each household's peers, nearest first (arrays aligned with the households)."""

    index: Ints
    """Households x ``target`` indices into the homes; -1 pads a short group."""
    distance_m: Floats
    """Distance to each peer; inf where padded."""
    count: Ints
    status: NDArray[np.int8]
    """:class:`PeerStatus` codes."""
    rules: PeerRules

    @property
    def withheld(self) -> NDArray[np.bool_]:
        result: NDArray[np.bool_] = self.status != PeerStatus.OK
        return result

    @property
    def radius_m(self) -> Floats:
        """Distance to the farthest peer (NaN without peers)."""
        finite = np.where(np.isfinite(self.distance_m), self.distance_m, -np.inf)
        far = finite.max(axis=1, initial=-np.inf)
        result: Floats = np.where(np.isfinite(far), far, np.nan)
        return result

    def reason(self, i: int) -> str | None:
        """Why household ``i`` gets no comparison, or ``None``."""
        status = PeerStatus(int(self.status[i]))
        if status is PeerStatus.OK:
            return None
        if status is PeerStatus.NO_LOCATION:
            return "no location for this home"
        if status is PeerStatus.UNKNOWN_DETAILS:
            return "heating fuel, property type or floor area not known"
        return (
            f"too few similar homes: {int(self.count[i])} within "
            f"{_distance_text(self.rules.max_radius_m)} (at least {self.rules.min_peers} needed)"
        )


def planar_xy(latitude: ArrayLike, longitude: ArrayLike, reference_latitude: float) -> Floats:
    """Metres east and north (equirectangular projection about ``reference_latitude``)."""
    lat = np.radians(np.asarray(latitude, dtype=np.float64))
    lon = np.radians(np.asarray(longitude, dtype=np.float64))
    x = EARTH_RADIUS_M * lon * np.cos(np.radians(reference_latitude))
    result: Floats = np.column_stack([x, EARTH_RADIUS_M * lat])
    return result


def find_peers(homes: Homes, *, rules: PeerRules = DEFAULT_PEER_RULES) -> PeerGroups:
    """The comparison group of every household (see the module's rules)."""
    n, target = len(homes), rules.target
    index = np.full((n, target), -1, dtype=np.int64)
    distance = np.full((n, target), np.inf)
    status = np.full(n, PeerStatus.OK, dtype=np.int8)
    located = np.isfinite(homes.latitude) & np.isfinite(homes.longitude)
    codes = np.column_stack([homes.heating_fuel, homes.property_type, homes.floor_area_band])
    known = (codes >= 0).all(axis=1)
    status[~known] = PeerStatus.UNKNOWN_DETAILS
    status[~located] = PeerStatus.NO_LOCATION
    xy = planar_xy(homes.latitude, homes.longitude, rules.reference_latitude)
    group = (codes[:, 0] * len(PROPERTY_TYPES) + codes[:, 1]) * len(FLOOR_AREA_BANDS) + codes[:, 2]
    eligible = np.flatnonzero(located & known)
    order = eligible[np.argsort(group[eligible], kind="stable")]
    for members in np.split(order, np.flatnonzero(np.diff(group[order])) + 1):
        if members.size:
            rows_i, rows_d = _group_peers(xy[members], members, rules)
            index[members], distance[members] = rows_i, rows_d
    count = (index >= 0).sum(axis=1)
    status[(status == PeerStatus.OK) & (count < rules.min_peers)] = PeerStatus.TOO_FEW
    return PeerGroups(index=index, distance_m=distance, count=count, status=status, rules=rules)


def _group_peers(xy: Floats, members: Ints, rules: PeerRules) -> tuple[Ints, Floats]:
    """Up to ``target`` nearest other members within the radius, for each member."""
    k = min(rules.target + 1, members.size)
    tree = cKDTree(xy)
    # cKDTree's bound is strict; "within 2 km" includes a home at exactly 2 km.
    bound = float(np.nextafter(rules.max_radius_m, np.inf))
    found_d, found_j = tree.query(xy, k=k, distance_upper_bound=bound, workers=-1)
    # k = 1 gives flat arrays: make every result (members by k).
    d = np.asarray(found_d, dtype=np.float64).reshape(members.size, k)
    j = np.asarray(found_j, dtype=np.intp).reshape(members.size, k)
    found = j < members.size
    peer = np.where(found, members[np.minimum(j, members.size - 1)], -1)
    own = peer == members[:, None]
    # Move the home itself to the end (stable: the rest stay nearest first), then drop it.
    moved = np.argsort(own, axis=1, kind="stable")
    peer = np.take_along_axis(np.where(own, -1, peer), moved, axis=1)
    d = np.take_along_axis(np.where(own | ~found, np.inf, d), moved, axis=1)
    width = min(rules.target, k)
    out_i = np.full((members.size, rules.target), -1, dtype=np.int64)
    out_d = np.full((members.size, rules.target), np.inf)
    out_i[:, :width], out_d[:, :width] = peer[:, :width], d[:, :width]
    return out_i, out_d
