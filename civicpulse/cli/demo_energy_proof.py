"""The energy tour's consent withdrawal, and the proof that the household is in no peer statistic.

A household that some neighbours count among their similar homes withdraws its consent (the
registry call behind ``civicpulse devices withdraw``) and the month is run again, as the next
scheduled run would. The proof is read from the stored reports, before and after: the household
has no report; every household that counted it is compared with exactly one home fewer, with an
average equal to the old one less its use; every other household's figures are unchanged. Its
former group comes from ``find_peers`` on the households the run read (the run's own grouping).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analytics.energy import Homes, PeerRules
from analytics.energy.peers import find_peers
from analytics.nudges import Period, run_period
from storage import energy
from storage.connection import Conn
from storage.energy import Household, Programme
from storage.registry import withdraw_consent

_FIGURES = ("status", "peers", "usage_kwh", "average_kwh", "efficient_kwh", "withheld_reason")


async def withdrawal_tour(
    conn: Conn, reader: Conn, programme: Programme, period: Period, meters: set[str]
) -> bool:
    """Withdraw one household's consent, run ``period`` again, and show that it left no trace."""
    households = await energy.households(conn)
    before = await _rows(conn, programme, period)
    chosen = _choose(households, before, programme, meters)
    if chosen is None:
        print("  no household is a peer in a group small enough to show the withdrawal")
        return False
    leaver, group = chosen
    gone = before[leaver.household_id]
    counts = [int(before[h]["peers"]) for h in group]
    print(
        f"  household {leaver.household_id} withdraws its consent"
        f" (`civicpulse devices withdraw {leaver.device_id}`); it was one of the similar homes"
        f" of {len(group)} households, each compared with {min(counts)} to {max(counts)} homes"
    )
    await withdraw_consent(conn, [leaver.device_id])
    await run_period(conn, programme, period, readers=[reader])
    after = await _rows(conn, programme, period)
    problems = _check(before, after, leaver.household_id, group, float(gone["usage_kwh"]))
    if problems:
        for problem in problems[:5]:
            print(f"  {problem}")
        return False
    unchanged = len(after) - len(group)
    print(
        f"  {period.label()} run again: it has no report; those {len(group)} are each compared"
        f" with one home fewer, their averages exactly the old ones without its"
        f" {float(gone['usage_kwh']):,.0f} kWh; the other {unchanged:,} households' figures are"
        " unchanged"
    )
    return True


async def _rows(conn: Conn, programme: Programme, period: Period) -> dict[str, dict[str, Any]]:
    rows = await energy.nudges(conn, programme.programme_id, period_start=period.start)
    return {str(r["household_id"]): r for r in rows}


def _choose(
    households: Sequence[Household],
    rows: Mapping[str, Mapping[str, Any]],
    programme: Programme,
    meters: set[str],
) -> tuple[Household, list[str]] | None:
    """A tour household with a report that others count as a peer, in groups below the target
    size (so that its leaving changes each of them by exactly one home)."""
    rules = PeerRules(target=programme.target_peers, min_peers=programme.min_peers)
    homes = Homes.from_labels(
        [h.latitude if h.latitude is not None else np.nan for h in households],
        [h.longitude if h.longitude is not None else np.nan for h in households],
        [h.heating_fuel for h in households],
        [h.property_type for h in households],
        [h.floor_area_band for h in households],
    )
    peers = find_peers(homes, rules=rules)
    counted_by: dict[int, list[int]] = {}
    for i, row in enumerate(peers.index.tolist()):
        for j in row:
            if j >= 0:
                counted_by.setdefault(j, []).append(i)
    best: tuple[Household, list[str]] | None = None
    for j, referrers in sorted(counted_by.items(), key=lambda kv: households[kv[0]].household_id):
        leaver = households[j]
        mine = rows.get(leaver.household_id)
        if leaver.device_id not in meters or mine is None or mine["status"] != "ready":
            continue
        group = [households[i].household_id for i in referrers]
        if all(
            (r := rows.get(h)) is not None
            and r["status"] == "ready"
            and programme.min_peers < int(r["peers"])
            and int(peers.count[i]) < rules.target
            for h, i in zip(group, referrers, strict=True)
        ) and (best is None or len(group) > len(best[1])):
            best = (leaver, group)
    return best


def _check(
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    leaver: str,
    group: Sequence[str],
    usage: float,
) -> list[str]:
    """What contradicts "the household is in no peer statistic"; empty when nothing does."""
    problems = []
    if leaver in after:
        problems.append(f"{leaver} still has a report after withdrawing")
    for h in group:
        old, new = before[h], after.get(h)
        if new is None or new["status"] != "ready":
            problems.append(f"{h} lost its comparison")
            continue
        n = int(old["peers"])
        if int(new["peers"]) != n - 1:
            problems.append(f"{h}: {new['peers']} similar homes after, {n} before")
            continue
        # Figures are stored to 0.01 kWh: the sums agree to within that per home.
        expected = (float(old["average_kwh"]) * n - usage) / (n - 1)
        if abs(float(new["average_kwh"]) - expected) > 0.01 * n / (n - 1) + 0.01:
            problems.append(f"{h}: average {new['average_kwh']} after, {expected:.2f} expected")
    members = set(group) | {leaver}
    for h, old in before.items():
        if h not in members and [old[k] for k in _FIGURES] != [
            after.get(h, {}).get(k) for k in _FIGURES
        ]:
            problems.append(f"{h}'s figures changed though it did not count {leaver}")
    return problems
