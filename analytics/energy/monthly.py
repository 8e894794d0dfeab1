"""The monthly run of neighbour comparisons over a whole population, as one pure computation.

The job on top (database reads, storing nudges, delivery) hands over arrays for every eligible
household — location, fuel, type, band, a year of daily use, the month's daily use, the
weather — and gets back, for each one, its weather fit, its normalised use, its similar homes
and its comparison, or the reason it gets none. Each step is vectorised (:mod:`.prism`,
:mod:`.peers`, :mod:`.comparison`); 100,000 households take seconds on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analytics.energy.calendar import Floats
from analytics.energy.comparison import ComparisonTable, compare_all
from analytics.energy.peers import DEFAULT_PEER_RULES, Homes, PeerGroups, PeerRules, find_peers
from analytics.energy.prism import (
    DEFAULT_PRISM_RULES,
    FitStatus,
    Normalised,
    PrismFit,
    PrismRules,
    fit_prism,
    normalise,
)


@dataclass(frozen=True, slots=True)
class NeighbourReport:
    """Each household's similar homes and comparison (aligned with the households)."""

    peers: PeerGroups
    comparisons: ComparisonTable

    def reason(self, i: int) -> str | None:
        """Why household ``i`` gets no comparison, or ``None`` when it gets one."""
        if self.comparisons.rating[i] >= 0:  # not withheld (one element, not the whole mask)
            return None
        peers = self.peers.reason(i)
        if peers is not None:
            return peers
        if np.isnan(self.comparisons.usage[i]):
            return "no usage for this period"
        return (
            f"too few similar homes with readings for this period: "
            f"{int(self.comparisons.peers[i])} (at least {self.peers.rules.min_peers} needed)"
        )


def neighbour_comparisons(
    homes: Homes, usage: ArrayLike, *, rules: PeerRules = DEFAULT_PEER_RULES
) -> NeighbourReport:
    """Similar homes and the comparison of every household's ``usage`` (NaN: none)."""
    peers = find_peers(homes, rules=rules)
    return NeighbourReport(
        peers=peers, comparisons=compare_all(usage, peers.index, min_peers=rules.min_peers)
    )


@dataclass(frozen=True, slots=True)
class MonthlyRun:
    fit: PrismFit
    """The weather fit of each household over its history."""
    normalised: Normalised
    """The month's use in normal weather."""
    report: NeighbourReport

    def reason(self, i: int) -> str | None:
        """Why household ``i`` gets no comparison, or ``None`` when it gets one."""
        if self.fit.status[i] == FitStatus.TOO_FEW_DAYS and self.report.comparisons.withheld[i]:
            return (
                f"not enough readings to allow for the weather: {int(self.fit.days[i])} days "
                "of history"
            )
        return self.report.reason(i)


def monthly_run(
    homes: Homes,
    history_use: ArrayLike,
    history_tmax_c: ArrayLike,
    history_tmin_c: ArrayLike,
    period_use: ArrayLike,
    period_tmax_c: ArrayLike,
    period_tmin_c: ArrayLike,
    normal_hdd: ArrayLike,
    *,
    peer_rules: PeerRules = DEFAULT_PEER_RULES,
    prism_rules: PrismRules = DEFAULT_PRISM_RULES,
) -> MonthlyRun:
    """Fit, normalise and compare every household (households x days of use, in kWh).

    ``normal_hdd`` is the period's normal degree days at each base of ``prism_rules.bases_c``.
    """
    fit = fit_prism(history_use, history_tmax_c, history_tmin_c, rules=prism_rules)
    normalised = normalise(fit, period_use, period_tmax_c, period_tmin_c, normal_hdd)
    usage: Floats = normalised.usage
    return MonthlyRun(
        fit=fit, normalised=normalised, report=neighbour_comparisons(homes, usage, rules=peer_rules)
    )
