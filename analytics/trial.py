"""Does it work? A programme as a randomised trial: households assigned to treatment or control
within strata, reports sent to treatment only, and the effect estimated by difference in
differences on weather-normalised use, per programme and per zone (``analytics.energy.trial``).

Normal weather: both periods are brought to the same reference, the UK standard year's degree
days for their months (base 15.5 °C; at a household's own base temperature, scaled by the
period's own ratio of degree days at that base to those at 15.5 °C). The reference cancels in
the difference of differences; what matters is that both arms get the same one.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from analytics.energy import (
    UK_STANDARD_MONTHLY_HDD,
    Effect,
    assign,
    degree_day_table,
    effects_by,
    estimate_effect,
    fit_prism,
    normalise,
    strata,
)
from analytics.nudges import HISTORY_DAYS, Floats, Period, gather
from storage import energy
from storage.connection import Conn
from storage.energy import Household, Programme


@dataclass(frozen=True, slots=True)
class TrialResult:
    programme: Effect | None
    zones: dict[Hashable, Effect | None]
    households: int


def normal_hdd(period: Period, tmax: Floats, tmin: Floats, bases: Floats) -> Floats:
    """The period's degree days in a standard year, at each base (see the module)."""
    standard = sum(
        UK_STANDARD_MONTHLY_HDD[(period.start + timedelta(days=k)).month - 1]
        / _month_days(period.start + timedelta(days=k))
        for k in range(period.days)
    )
    table = degree_day_table(tmax, tmin, bases)
    actual = np.nansum(table, axis=0)
    at_15_5 = float(np.nansum(degree_day_table(tmax, tmin, np.array([15.5]))))
    scale = actual / at_15_5 if at_15_5 > 0 else np.ones_like(actual)
    result: Floats = standard * scale
    return result


def _month_days(day: date) -> int:
    start = day.replace(day=1)
    nxt = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return (nxt - start).days


async def assign_households(
    conn: Conn,
    programme: Programme,
    baseline: Period,
    *,
    seed: int,
    only: Collection[str] | None = None,
) -> int:
    """Assign every household not yet in the trial, balanced within strata of heating fuel,
    property type and baseline use quartile. Returns how many were assigned now.

    ``only``: the household ids to assign (a pilot in part of the area), so that the split
    does not depend on who else is registered."""
    households = await energy.households(conn)
    if only is not None:
        households = [h for h in households if h.household_id in only]
    inputs = await gather(conn, households, baseline, calorific_value=39.5)
    stratum = strata(
        [h.heating_fuel or "?" for h in households],
        [h.property_type or "?" for h in households],
        usage=inputs.period_kwh,
    )
    treated = assign(stratum, seed=seed)
    rows = [
        (h.household_id, "treatment" if t else "control", str(int(s)))
        for h, t, s in zip(households, treated, stratum, strict=True)
    ]
    return await energy.save_assignments(conn, programme.programme_id, rows)


async def estimate(conn: Conn, programme: Programme, pre: Period, post: Period) -> TrialResult:
    """The effect of the programme's reports between ``pre`` and ``post`` (later)."""
    households = await energy.households(conn)
    arms = await energy.assignments(conn, programme.programme_id)
    assigned = [h for h in households if h.household_id in arms]
    inputs = await gather(conn, assigned, post, calorific_value=39.5)
    first = post.end - timedelta(days=HISTORY_DAYS + 1)
    pre_slice = slice((pre.start - first).days, (pre.end - first).days)
    post_slice = slice((post.start - first).days, (post.end - first).days)
    # The weather fit is made on the history before the reports began.
    fit = fit_prism(
        inputs.daily_use[:, : pre_slice.stop],
        inputs.tmax[: pre_slice.stop],
        inputs.tmin[: pre_slice.stop],
    )
    values = []
    for period, days in ((pre, pre_slice), (post, post_slice)):
        tmax, tmin = inputs.tmax[days], inputs.tmin[days]
        values.append(
            normalise(
                fit,
                inputs.daily_use[:, days],
                tmax,
                tmin,
                normal_hdd(period, tmax, tmin, fit.bases_c),
            ).usage
        )
    treated = np.array([arms[h.household_id][0] == "treatment" for h in assigned])
    return TrialResult(
        estimate_effect(values[0], values[1], treated),
        effects_by([_zone(h) for h in assigned], values[0], values[1], treated),
        len(assigned),
    )


def _zone(household: Household) -> str:
    wards = [z for z in household.zones if z.startswith("ward-")]
    return wards[0] if wards else (household.zones[0] if household.zones else "-")
