"""The monthly neighbour comparison: every household's energy use against similar homes, with
one or two suggestions, stored for audit and delivery.

Decisions:

- **What is compared** is the period's measured energy (electricity, plus gas converted to kWh
  for gas-heated homes), per household. Neighbours within two kilometres share the weather, so
  the comparison is fair as measured; weather normalisation (PRISM) serves the year-on-year
  insight ("a cold month is not bad behaviour") and the trial's effect estimate.
- **Consent decides the data**: households with daily (or half-hourly) consent are measured from
  the daily rollups through the consent views; households with monthly consent from the monthly
  view (end-of-month registers). A household that withdraws consent has no row in those views,
  so it is in nobody's peer group at the next run.
- **A period is measured** only if at most ``max_missing_days`` of its days are unknown: a home
  away or a meter offline is not "efficient".
- Everything lands in ``nudges`` with the figures it was based on, replacing an earlier run of
  the same period (idempotent).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from analytics.energy import (
    GAS,
    Homes,
    InsightInputs,
    Measure,
    PeerRules,
    fit_prism,
    fleet_daily,
    gas_m3_to_kwh_array,
    household_insights,
    neighbour_comparisons,
    peer_median,
    peer_rank,
)
from devices.types import SMART_METER
from storage import energy
from storage.connection import Conn
from storage.day_matrix import day_matrix
from storage.energy import Household, NudgeRow, Programme
from storage.readings import Selection, rollups

logger = logging.getLogger(__name__)

HISTORY_DAYS = 365
Floats = npt.NDArray[np.float64]
_ELECTRICITY, _GAS = "electricity_import_kwh_max", "gas_m3_max"
_BLOCK = 8192
"""Households per block when deriving usage: bounds the temporaries at a few tens of MB."""


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    """Exclusive."""

    @classmethod
    def month(cls, text: str) -> Period:
        """``"2026-10"`` → October 2026."""
        year, _, month = text.partition("-")
        start = date(int(year), int(month), 1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return cls(start, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def label(self) -> str:
        return f"{self.start:%B %Y}"


@dataclass(slots=True)
class RunReport:
    households: int = 0
    compared: int = 0
    withheld: dict[str, int] = field(default_factory=dict)
    seconds_reading: float = 0.0
    seconds_computing: float = 0.0
    seconds_writing: float = 0.0
    ratings: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the comparison needs, aligned with ``households``."""

    households: Sequence[Household]
    period: Period
    period_kwh: Floats
    missing_days: npt.NDArray[np.int64]
    daily_use: Floats
    """Households x history days (kWh), NaN where unknown; the period's days last."""
    last_year_kwh: Floats
    tmax: Floats
    tmin: Floats
    calorific_value: float


def compute(inputs: Inputs, programme: Programme, *, max_missing_days: int = 3) -> list[NudgeRow]:
    """Comparisons, withheld reasons and suggestions for every household. Pure."""
    hh = inputs.households
    usage = np.where(inputs.missing_days <= max_missing_days, inputs.period_kwh, np.nan)
    homes = Homes.from_labels(
        [h.latitude if h.latitude is not None else np.nan for h in hh],
        [h.longitude if h.longitude is not None else np.nan for h in hh],
        [h.heating_fuel for h in hh],
        [h.property_type for h in hh],
        [h.floor_area_band for h in hh],
    )
    rules = PeerRules(target=programme.target_peers, min_peers=programme.min_peers)
    report = neighbour_comparisons(homes, usage, rules=rules)
    fit = fit_prism(inputs.daily_use, inputs.tmax, inputs.tmin)
    slope = np.where(np.isfinite(fit.beta), fit.beta, np.nan)
    slope_rank = peer_rank(slope, report.peers.index, min_peers=programme.min_peers)
    slope_median = peer_median(slope, report.peers.index, min_peers=programme.min_peers)
    # Whole-population arrays once, as Python lists: the loop below touches each household's
    # values one by one, and a property or a numpy scalar per access costs a pass or a box each.
    label = inputs.period.label()
    missing, measured = inputs.missing_days.tolist(), inputs.period_kwh.tolist()
    last_year, radius_m = inputs.last_year_kwh.tolist(), report.peers.radius_m.tolist()
    status, alpha, beta = fit.status.tolist(), fit.alpha.tolist(), fit.beta.tolist()
    base_c, fit_days = fit.base_c.tolist(), fit.days.tolist()
    slopes, ranks, medians = slope.tolist(), slope_rank.tolist(), slope_median.tolist()
    rows: list[NudgeRow] = []
    for i, household in enumerate(hh):
        reason = report.reason(i)
        if reason is None and missing[i] > max_missing_days:
            reason = f"{missing[i]} days of this period have no readings"
        figures: dict[str, object] = {
            "period": label,
            "missing_days": missing[i],
            "measured_kwh": _number(measured[i]),
            "peers_within_m": _number(radius_m[i]),
            "weather_fit": {
                "status": status[i],
                "baseload_kwh_per_day": _number(alpha[i]),
                "kwh_per_degree_day": _number(beta[i]),
                "base_temperature_c": _number(base_c[i]),
                "days": fit_days[i],
            },
        }
        comparison = report.comparisons.row(i)
        if comparison is None:
            rows.append(
                NudgeRow(
                    household.household_id,
                    household.device_id,
                    "withheld",
                    withheld_reason=reason or "no comparison",
                    usage_kwh=_number(measured[i]),
                    figures=figures,
                )
            )
            continue
        insights = household_insights(
            InsightInputs(
                consent=household.consent,  # type: ignore[arg-type]
                heating_slope=_measure(slopes[i], ranks[i], medians[i]),
                usage=comparison.usage,
                usage_last_year=_number(last_year[i]),
            )
        )
        figures["insights"] = [{"name": x.name, "text": x.text} for x in insights.insights]
        figures["unavailable"] = [{"name": x.name, "why": x.reason} for x in insights.unavailable]
        figures["suggestions"] = [{"name": s.name, "text": s.text} for s in insights.suggestions]
        figures["message"] = comparison.message
        figures["smileys"] = comparison.smileys
        rows.append(
            NudgeRow(
                household.household_id,
                household.device_id,
                "ready",
                rating=comparison.rating,
                usage_kwh=round(comparison.usage, 2),
                average_kwh=round(comparison.average, 2),
                efficient_kwh=round(comparison.efficient, 2),
                peers=comparison.peers,
                figures=figures,
            )
        )
    return rows


def _number(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


def _measure(value: float, rank: float, median: float) -> Measure | None:
    if not math.isfinite(value):
        return None
    return Measure(
        value,
        rank if math.isfinite(rank) else None,
        median if math.isfinite(median) else None,
    )


async def gather(
    conn: Conn,
    households: Sequence[Household],
    period: Period,
    *,
    calorific_value: float,
    readers: Sequence[Conn] = (),
) -> Inputs:
    """Read what :func:`compute` needs through the consent views.

    A year of daily registers comes as households x days matrices (``storage.day_matrix``:
    grouped by day in the database, no Python object per reading), on ``conn`` and any extra
    ``readers`` concurrently. Usage is then derived block by block of households, so memory
    stays near the two register matrices and the usage matrix (0.9 GB for 100,000 homes).
    """
    index = {h.device_id: i for i, h in enumerate(households)}
    first = period.end - timedelta(days=HISTORY_DAYS + 1)
    days = (period.end - first).days
    registers = await day_matrix(
        [conn, *readers],
        SMART_METER,
        device_ids=[h.device_id for h in households],
        start=first,
        days=days,
        columns=[_ELECTRICITY, _GAS],
    )
    elec, gas = registers.pop(_ELECTRICITY), registers.pop(_GAS)
    daily = np.empty_like(elec)
    for lo in range(0, len(households), _BLOCK):
        rows = slice(lo, lo + _BLOCK)
        daily[rows] = fleet_daily(elec[rows]).usage
        gas_kwh = gas_m3_to_kwh_array(fleet_daily(gas[rows], rules=GAS).usage, calorific_value)
        # Gas-heated homes add their gas; a day without a gas reading counts its electricity.
        daily[rows] += np.nan_to_num(gas_kwh, copy=False)
    del elec, gas
    n_period = period.days
    period_use = daily[:, -n_period:]
    period_kwh = np.nansum(period_use, axis=1)
    missing = np.isnan(period_use).sum(axis=1)
    last_year = _last_year(daily, period, first)
    await _monthly_only(conn, households, index, period, period_kwh, missing, calorific_value)
    temperatures = {
        d: (hi, lo) for d, hi, lo in await energy.daily_temperatures(conn, first, period.end)
    }
    tmax = np.array(
        [temperatures.get(first + timedelta(days=k), (np.nan, np.nan))[0] for k in range(days)]
    )
    tmin = np.array(
        [temperatures.get(first + timedelta(days=k), (np.nan, np.nan))[1] for k in range(days)]
    )
    # Days without weather cannot inform the weather fit.
    daily[:, ~np.isfinite(tmax)] = np.nan
    return Inputs(
        households, period, period_kwh, missing, daily, last_year, tmax, tmin, calorific_value
    )


def _last_year(daily: Floats, period: Period, first: date) -> Floats:
    start = (period.start.replace(year=period.start.year - 1) - first).days
    end = (period.end.replace(year=period.end.year - 1) - first).days
    if start < 1:
        return np.full(daily.shape[0], np.nan)
    window = daily[:, start:end]
    complete = np.isnan(window).sum(axis=1) <= 3
    return np.where(complete, np.nansum(window, axis=1), np.nan)


async def _monthly_only(
    conn: Conn,
    households: Sequence[Household],
    index: dict[str, int],
    period: Period,
    period_kwh: Floats,
    missing: npt.NDArray[np.int64],
    calorific_value: float,
) -> None:
    """Monthly-consent households: the month's use from end-of-month registers (in place)."""
    monthly = [h.device_id for h in households if h.consent == "monthly"]
    if not monthly:
        return
    previous = date(
        period.start.year - (period.start.month == 1), (period.start.month - 2) % 12 + 1, 1
    )
    found: dict[str, dict[date, tuple[float | None, float | None]]] = {}
    for row in await rollups(
        conn,
        SMART_METER,
        "monthly",
        start=_midnight(previous),
        end=_midnight(period.end),
        selection=Selection(device_ids=monthly),
        fields=["electricity_import_kwh", "gas_m3"],
    ):
        found.setdefault(row.device_id, {})[row.bucket.date()] = (
            row.stats["electricity_import_kwh"].max,
            row.stats["gas_m3"].max,
        )
    for device in monthly:
        i = index[device]
        months = found.get(device, {})
        now, before = months.get(period.start), months.get(previous)
        if now is None or before is None or now[0] is None or before[0] is None:
            period_kwh[i], missing[i] = np.nan, period.days
            continue
        use = now[0] - before[0]
        if now[1] is not None and before[1] is not None:
            use += float(gas_m3_to_kwh_array(np.array([now[1] - before[1]]), calorific_value)[0])
        period_kwh[i] = use if use >= 0 else np.nan  # a register reset: not measurable monthly
        missing[i] = 0 if use >= 0 else period.days


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def run_period(
    conn: Conn,
    programme: Programme,
    period: Period,
    *,
    calorific_value: float = 39.5,
    readers: Sequence[Conn] = (),
) -> RunReport:
    """Compute and store a period's nudges for a programme; returns what happened.

    ``readers``: extra connections to read the year of daily data on concurrently.
    """
    report = RunReport()
    started = time.perf_counter()
    households = await energy.households(conn)
    inputs = await gather(
        conn, households, period, calorific_value=calorific_value, readers=readers
    )
    report.seconds_reading = time.perf_counter() - started
    started = time.perf_counter()
    rows = compute(inputs, programme)
    report.seconds_computing = time.perf_counter() - started
    started = time.perf_counter()
    await energy.replace_nudges(conn, programme.programme_id, period.start, period.end, rows)
    report.seconds_writing = time.perf_counter() - started
    report.households = len(rows)
    for row in rows:
        if row.status == "ready" and row.rating:
            report.compared += 1
            report.ratings[row.rating] = report.ratings.get(row.rating, 0) + 1
        else:
            key = (row.withheld_reason or "withheld").split(":")[0]
            report.withheld[key] = report.withheld.get(key, 0) + 1
    logger.info(
        "%s: %d households, %d compared, withheld %s",
        period.label(),
        report.households,
        report.compared,
        report.withheld,
    )
    return report
