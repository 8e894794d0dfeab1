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
from storage.energy import Household, NudgeRow, Programme
from storage.readings import rollup_columns, rollups

logger = logging.getLogger(__name__)

HISTORY_DAYS = 365
Floats = npt.NDArray[np.float64]


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
    rows: list[NudgeRow] = []
    for i, household in enumerate(hh):
        reason = report.reason(i)
        if reason is None and inputs.missing_days[i] > max_missing_days:
            reason = f"{int(inputs.missing_days[i])} days of this period have no readings"
        figures: dict[str, object] = {
            "period": inputs.period.label(),
            "missing_days": int(inputs.missing_days[i]),
            "measured_kwh": _number(inputs.period_kwh[i]),
            "peers_within_m": _number(report.peers.radius_m[i]),
            "weather_fit": {
                "status": int(fit.status[i]),
                "baseload_kwh_per_day": _number(fit.alpha[i]),
                "kwh_per_degree_day": _number(fit.beta[i]),
                "base_temperature_c": _number(fit.base_c[i]),
                "days": int(fit.days[i]),
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
                    usage_kwh=_number(inputs.period_kwh[i]),
                    figures=figures,
                )
            )
            continue
        insights = household_insights(
            InsightInputs(
                consent=household.consent,  # type: ignore[arg-type]
                heating_slope=_measure(slope[i], slope_rank[i], slope_median[i]),
                usage=float(usage[i]),
                usage_last_year=_number(inputs.last_year_kwh[i]),
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


def _number(value: float | np.floating) -> float | None:
    number = float(value)
    return round(number, 3) if np.isfinite(number) else None


def _measure(value: float, rank: float, median: float) -> Measure | None:
    if not np.isfinite(value):
        return None
    return Measure(
        float(value),
        float(rank) if np.isfinite(rank) else None,
        float(median) if np.isfinite(median) else None,
    )


async def gather(
    conn: Conn, households: Sequence[Household], period: Period, *, calorific_value: float
) -> Inputs:
    """Read what :func:`compute` needs through the consent views."""
    index = {h.device_id: i for i, h in enumerate(households)}
    first = period.end - timedelta(days=HISTORY_DAYS + 1)
    days = (period.end - first).days
    elec = np.full((len(households), days), np.nan)
    gas = np.full((len(households), days), np.nan)
    columns = await rollup_columns(
        conn,
        SMART_METER,
        "daily",
        start=_midnight(first),
        end=_midnight(period.end),
        columns=["electricity_import_kwh_max", "gas_m3_max"],
    )
    if len(columns):
        rows = np.array([index.get(str(d), -1) for d in columns.device_id])
        day0 = np.datetime64(first, "D")
        cols = (columns.bucket.astype("datetime64[D]") - day0).astype(np.int64)
        keep = (rows >= 0) & (cols >= 0) & (cols < days)
        elec[rows[keep], cols[keep]] = columns.values["electricity_import_kwh_max"][keep]
        gas[rows[keep], cols[keep]] = columns.values["gas_m3_max"][keep]
    daily = fleet_daily(elec).usage
    gas_m3 = fleet_daily(gas, rules=GAS).usage
    gas_kwh = gas_m3_to_kwh_array(gas_m3, calorific_value)
    has_gas = np.isfinite(gas).any(axis=1)
    daily = np.where(has_gas[:, None], daily + np.nan_to_num(gas_kwh), daily)
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
    daily = np.where(np.isfinite(tmax)[None, :], daily, np.nan)
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
) -> RunReport:
    """Compute and store a period's nudges for a programme; returns what happened."""
    report = RunReport()
    started = time.perf_counter()
    households = await energy.households(conn)
    inputs = await gather(conn, households, period, calorific_value=calorific_value)
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
