"""Neighbour comparison: you, your average neighbours and your efficient neighbours.

Opower's home energy report compares a household with "all neighbours" (their mean) and
"efficient neighbours", the 20 % of similar homes that used least [domain.md §4.1, V: Oracle
Opower docs]. Decisions, pinned by the tests:

- ``average`` is the mean of the peers' usage, ``efficient`` their 20th percentile by **numpy's
  default linear interpolation** (Hyndman-Fan type 7): with 100 peers sorted ascending it is
  ``p[19] + 0.8·(p[20] - p[19])``;
- ``rating`` is ``"great"`` at or below ``efficient``, ``"good"`` at or below ``average``,
  otherwise ``"above_average"`` (Allcott 2011's mapping of the two smileys, one smiley, none);
- with fewer than ``min_peers`` peers (default 10; peers without usage for the period do not
  count) there is no comparison: Opower withholds it when the group is too small;
- the message is **injunctive** as well as descriptive: praise for great and good, encouragement
  otherwise. A descriptive norm alone makes low users drift up to the average (the boomerang);
  adding approval removed it (Schultz et al. 2007, domain.md §4.2). Never a frown: Opower
  dropped it after complaints.

Compare like with like: usage here is the period's weather-normalised use (:mod:`.prism`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.energy.calendar import Floats, Ints

Rating = Literal["great", "good", "above_average"]
RATINGS: tuple[Rating, ...] = ("great", "good", "above_average")
"""Rating codes of the array form index this tuple (``-1``: withheld)."""
EFFICIENT_PERCENTILE = 20.0
MIN_PEERS = 10

MESSAGES: dict[Rating, str] = {
    "great": "Great: you used less than your efficient neighbours. Keep it up!",
    "good": "Good: you used less than your average neighbours. A few small changes could put "
    "you among the most efficient.",
    "above_average": "You used more than your average neighbours. Small changes add up: the "
    "tips below show where your home could save.",
}
SMILEYS: dict[Rating, int] = {"great": 2, "good": 1, "above_average": 0}


@dataclass(frozen=True, slots=True)
class Comparison:
    """One household's comparison with its similar homes for one period."""

    usage: float
    average: float
    """Mean usage of the peers."""
    efficient: float
    """20th percentile of the peers' usage (numpy's linear interpolation)."""
    rating: Rating
    peers: int
    """Peers with usage for the period."""

    @property
    def message(self) -> str:
        return MESSAGES[self.rating]

    @property
    def smileys(self) -> int:
        return SMILEYS[self.rating]


def rate(usage: float, average: float, efficient: float) -> Rating:
    if usage <= efficient:
        return "great"
    if usage <= average:
        return "good"
    return "above_average"


def compare(
    usage_kwh: float, peers_kwh: Sequence[float], *, min_peers: int = MIN_PEERS
) -> Comparison | None:
    """Compare a household's usage with its peers'; ``None`` with fewer than ``min_peers``.

    Peers whose usage is NaN (no data for the period) are left out.
    """
    if not np.isfinite(usage_kwh):
        raise ValueError(f"usage must be a finite number, not {usage_kwh}")
    values = np.asarray(peers_kwh, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    if values.size < max(min_peers, 1):
        return None
    average = float(values.mean())
    efficient = float(np.percentile(values, EFFICIENT_PERCENTILE))
    return Comparison(
        usage=float(usage_kwh),
        average=average,
        efficient=efficient,
        rating=rate(float(usage_kwh), average, efficient),
        peers=int(values.size),
    )


@dataclass(frozen=True, slots=True)
class ComparisonTable:
    """Comparisons of a whole population (arrays aligned with the households)."""

    usage: Floats
    average: Floats
    """NaN where withheld."""
    efficient: Floats
    rating: NDArray[np.int8]
    """Index into :data:`RATINGS`; -1 where withheld."""
    peers: Ints
    """Peers with usage for the period."""

    @property
    def withheld(self) -> NDArray[np.bool_]:
        result: NDArray[np.bool_] = self.rating < 0
        return result

    def row(self, i: int) -> Comparison | None:
        """Household ``i``'s comparison, ``None`` where withheld."""
        code = int(self.rating[i])
        if code < 0:
            return None
        return Comparison(
            usage=float(self.usage[i]),
            average=float(self.average[i]),
            efficient=float(self.efficient[i]),
            rating=RATINGS[code],
            peers=int(self.peers[i]),
        )


def peer_values(values: ArrayLike, peer_index: ArrayLike) -> Floats:
    """Households x peers of ``values``, NaN where the index is -1 (padding)."""
    v = np.asarray(values, dtype=np.float64)
    index = np.asarray(peer_index, dtype=np.int64)
    result: Floats = np.where(index >= 0, v[np.maximum(index, 0)], np.nan)
    return result


def row_percentile(rows: Floats, q: float) -> Floats:
    """numpy's default (linear) percentile of each row's finite values, NaN for empty rows.

    Vectorised over rows of different lengths: sort (NaN last), then interpolate between the
    ``floor`` and ``ceil`` of ``q/100·(n-1)`` as ``np.percentile`` does.
    """
    ordered = np.sort(rows, axis=1)
    n = np.isfinite(rows).sum(axis=1)
    position = q / 100.0 * np.maximum(n - 1, 0)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    take = np.arange(rows.shape[0])
    low, high = ordered[take, lo], ordered[take, hi]
    result: Floats = np.where(n > 0, low + (position - lo) * (high - low), np.nan)
    return result


def compare_all(
    usage: ArrayLike, peer_index: ArrayLike, *, min_peers: int = MIN_PEERS
) -> ComparisonTable:
    """:func:`compare` for every household: ``peer_index`` is households x peers (-1: none).

    A household's own usage must be finite to be rated; its peers without usage are left out.
    """
    own = np.asarray(usage, dtype=np.float64).reshape(-1)
    values = peer_values(own, peer_index)
    if values.shape[0] != own.size:
        raise ValueError(f"{own.size} households but {values.shape[0]} rows of peers")
    count = np.isfinite(values).sum(axis=1)
    average = np.where(count > 0, np.nansum(values, axis=1) / np.maximum(count, 1), np.nan)
    efficient = row_percentile(values, EFFICIENT_PERCENTILE)
    shown = (count >= max(min_peers, 1)) & np.isfinite(own)
    rating = np.select([own <= efficient, own <= average], [0, 1], default=2).astype(np.int8)
    return ComparisonTable(
        usage=own,
        average=np.where(shown, average, np.nan),
        efficient=np.where(shown, efficient, np.nan),
        rating=np.where(shown, rating, -1).astype(np.int8),
        peers=count.astype(np.int64),
    )
