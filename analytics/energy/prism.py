"""Weather normalisation, PRISM style: a cold month is not bad behaviour.

Each household's daily use is regressed on the day's heating degree days (:mod:`.weather`),

    use = alpha + beta * HDD(tau)

where alpha is the baseload (kWh a day whatever the weather), beta the heating slope (kWh per degree
day) and tau the household's base temperature, chosen as the best fit (largest R²) over a small
grid, 12-18.5 °C by 0.5 [PRISM, Fels 1986, domain.md §4.3: tau is estimated]. Decisions:

- tau is searched only with at least ``min_days_to_search`` days of data (90: a season's spread of
  temperatures; PRISM warns against fewer than ten monthly reads); with fewer days it is fixed
  at 15.5 °C, the UK base; with fewer than ``min_days`` (14) there is no fit;
- beta must be positive and significant (its t statistic at least ``min_slope_t``, 2): use
  that does not clearly rise on cold days (no electric heating, a summer-only history, noise)
  gets the baseload-only model ``use = alpha`` (beta = 0, R² = 0), never a negative slope or
  one fitted to noise;
- the fits are closed-form least squares over masked sums, vectorised across households and the
  tau grid at once (a few matrix products per block of households), so 100,000 households x a
  year take seconds.

**Normalised usage** of a period of ``D`` days replaces the period's weather by normal weather
and keeps the household's own deviation from its model (behaviour, which is what comparisons
and trials are about), **as a ratio**:

    normalised = (alpha * D + beta * HDD_normal(tau)) * actual / predicted,
    predicted  = alpha * n + beta * HDD_actual(tau)

over the ``n`` days with data (so missing days are filled at the household's own ratio). The
ratio, not the additive residual ``actual + beta * (HDD_normal - HDD_actual)`` of the degree-day
correction (vesma's standard year), because behaviour acts in proportion to use: a home that
uses 3 % less than its model in a cold February also would in a normal one. The additive form
turns that 3 % into more or less than 3 % of normal use, depending on the month's weather, and
biases the trial's relative effect (by 0.15 percentage points in the end-to-end trial test,
where the ratio keeps the injected -3 % exactly). Where the model predicts no use at all
(``predicted <= 0``) the additive form is used. ``residual = actual - predicted`` is kept for
reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.energy.calendar import Floats, Ints
from analytics.energy.weather import UK_BASE_C, degree_day_table

_BLOCK = 8192
"""Households per block: bounds the temporary arrays at a few tens of megabytes."""


class FitStatus(IntEnum):
    SEARCHED = 0
    """tau chosen by best fit over the grid."""
    FIXED_BASE = 1
    """Too few days to search: tau fixed at the fallback base (15.5 °C)."""
    BASELOAD_ONLY = 2
    """Use does not rise with degree days: beta = 0, alpha is the mean daily use."""
    TOO_FEW_DAYS = 3
    """No fit (alpha, beta, R² are NaN)."""


@dataclass(frozen=True, slots=True)
class PrismRules:
    bases_c: tuple[float, ...] = tuple(float(b) for b in np.arange(12.0, 18.51, 0.5))
    fallback_base_c: float = UK_BASE_C
    min_days: int = 14
    min_days_to_search: int = 90
    min_slope_t: float = 2.0

    def __post_init__(self) -> None:
        if not np.isclose(self.bases_c, self.fallback_base_c).any():
            raise ValueError(f"fallback base {self.fallback_base_c} °C is not in the grid")
        if self.min_days < 3:
            raise ValueError("a line through fewer than 3 days says nothing")

    @property
    def fallback_index(self) -> int:
        return int(np.argmin(np.abs(np.asarray(self.bases_c) - self.fallback_base_c)))


DEFAULT_PRISM_RULES = PrismRules()


@dataclass(frozen=True, slots=True)
class PrismFit:
    """One fit per household (arrays aligned with the households)."""

    bases_c: Floats
    """The tau grid."""
    alpha: Floats
    """Baseload, use per day."""
    beta: Floats
    """Heating slope, use per degree day."""
    base_index: Ints
    """Index of tau in ``bases_c`` (the fallback base for BASELOAD_ONLY; -1 without a fit)."""
    r2: Floats
    days: Ints
    """Days the fit used."""
    status: NDArray[np.int8]
    """:class:`FitStatus` codes."""

    @property
    def base_c(self) -> Floats:
        result: Floats = np.where(self.base_index >= 0, self.bases_c[self.base_index], np.nan)
        return result


def _as_matrix(daily_use: ArrayLike) -> Floats:
    use = np.asarray(daily_use, dtype=np.float64)
    if use.ndim == 1:
        use = use.reshape(1, -1)
    if use.ndim != 2:
        raise ValueError(f"expected households x days, got shape {use.shape}")
    return use


def fit_prism(
    daily_use: ArrayLike,
    tmax_c: ArrayLike,
    tmin_c: ArrayLike,
    *,
    rules: PrismRules = DEFAULT_PRISM_RULES,
) -> PrismFit:
    """Fit ``use = alpha + beta * HDD(tau)`` per household; ``daily_use`` is households x days (NaN: none)."""
    use = _as_matrix(daily_use)
    table = degree_day_table(tmax_c, tmin_c, rules.bases_c)
    if table.shape[0] != use.shape[1]:
        raise ValueError(f"{use.shape[1]} days of use but {table.shape[0]} days of weather")
    day_ok = np.isfinite(table.sum(axis=1))
    x = np.where(day_ok[:, None], table, 0.0)
    h = use.shape[0]
    out = {
        "alpha": np.full(h, np.nan),
        "beta": np.full(h, np.nan),
        "r2": np.full(h, np.nan),
        "base_index": np.full(h, -1, dtype=np.int64),
        "days": np.zeros(h, dtype=np.int64),
        "status": np.full(h, FitStatus.TOO_FEW_DAYS, dtype=np.int8),
    }
    for lo in range(0, h, _BLOCK):
        block = slice(lo, min(h, lo + _BLOCK))
        for name, values in _fit_block(use[block], day_ok, x, rules).items():
            out[name][block] = values
    return PrismFit(bases_c=np.asarray(rules.bases_c, dtype=np.float64), **out)


def _fit_block(
    use: Floats, day_ok: NDArray[np.bool_], x: Floats, rules: PrismRules
) -> dict[str, NDArray[np.generic]]:
    known = np.isfinite(use) & day_ok[None, :]
    w = known.astype(np.float64)
    y = np.where(known, use, 0.0)
    n = w.sum(axis=1)
    sx, sxx, sxy = w @ x, w @ (x * x), y @ x
    sy, syy = y.sum(axis=1), (y * y).sum(axis=1)
    safe_n = np.maximum(n, 1.0)[:, None]
    var_x = sxx - sx * sx / safe_n
    cov = sxy - sx * sy[:, None] / safe_n
    sst = syy - sy * sy / safe_n[:, 0]
    slope_ok = var_x > 1e-9 * safe_n
    beta = np.where(slope_ok, cov / np.where(slope_ok, var_x, 1.0), 0.0)
    sse = np.maximum(sst[:, None] - beta * cov, 0.0)
    # t = beta / se(beta), se² = SSE / (n - 2) / var_x; compared squared to avoid dividing by 0.
    t_squared_ok = beta * beta * var_x * (safe_n - 2.0) >= rules.min_slope_t**2 * sse
    heating = slope_ok & (beta > 0) & t_squared_ok
    r2 = np.where(
        heating & (sst[:, None] > 0), 1.0 - sse / np.where(sst > 0, sst, 1.0)[:, None], 0.0
    )

    search = n >= rules.min_days_to_search
    score = np.where(heating, r2, -np.inf)
    k = np.where(search, np.argmax(score, axis=1), rules.fallback_index)
    rows = np.arange(use.shape[0])
    chosen_heating = heating[rows, k]
    fitted = n >= rules.min_days
    b = np.where(chosen_heating, beta[rows, k], 0.0)
    alpha = (sy - b * sx[rows, k]) / np.maximum(n, 1.0)
    k = np.where(chosen_heating, k, rules.fallback_index)
    status = np.select(
        [~fitted, ~chosen_heating, search],
        [FitStatus.TOO_FEW_DAYS, FitStatus.BASELOAD_ONLY, FitStatus.SEARCHED],
        default=FitStatus.FIXED_BASE,
    ).astype(np.int8)
    return {
        "alpha": np.where(fitted, alpha, np.nan),
        "beta": np.where(fitted, b, np.nan),
        "r2": np.where(fitted, np.where(chosen_heating, r2[rows, k], 0.0), np.nan),
        "base_index": np.where(fitted, k, -1),
        "days": n.astype(np.int64),
        "status": status,
    }


@dataclass(frozen=True, slots=True)
class Normalised:
    """A period's usage per household, as measured and as in normal weather."""

    usage: Floats
    """Weather-normalised usage for the whole period (NaN without a fit or without data)."""
    actual: Floats
    """Measured usage on the days with data."""
    residual: Floats
    """Measured minus modelled usage on the days with data (``actual - predicted``)."""
    days: Ints
    """Days of the period with data."""
    period_days: int


def normal_degree_days(tmax_c: ArrayLike, tmin_c: ArrayLike, bases_c: ArrayLike) -> Floats:
    """Total HDD at each base over a period of normal (climatological) daily temperatures."""
    result: Floats = degree_day_table(tmax_c, tmin_c, bases_c).sum(axis=0)
    return result


def normalise(
    fit: PrismFit,
    period_use: ArrayLike,
    tmax_c: ArrayLike,
    tmin_c: ArrayLike,
    normal_hdd: ArrayLike,
) -> Normalised:
    """Weather-normalised usage of a period (households x days of use, the period's weather).

    ``normal_hdd`` holds the period's normal degree days at each base of ``fit.bases_c`` (see
    :func:`normal_degree_days`).
    """
    use = _as_matrix(period_use)
    table = degree_day_table(tmax_c, tmin_c, fit.bases_c)
    normal = np.asarray(normal_hdd, dtype=np.float64).reshape(-1)
    if table.shape[0] != use.shape[1] or normal.size != fit.bases_c.size:
        raise ValueError("period use, weather and normal degree days do not line up")
    if use.shape[0] != fit.alpha.size:
        raise ValueError(f"{use.shape[0]} households of use but {fit.alpha.size} fits")
    day_ok = np.isfinite(table.sum(axis=1))
    known = np.isfinite(use) & day_ok[None, :]
    n = known.sum(axis=1)
    actual = np.where(known, use, 0.0).sum(axis=1)
    k = np.maximum(fit.base_index, 0)
    hdd_known = (known.astype(np.float64) @ np.where(day_ok[:, None], table, 0.0))[
        np.arange(k.size), k
    ]
    predicted = fit.alpha * n + fit.beta * hdd_known
    residual = actual - predicted
    d = use.shape[1]
    in_normal_weather = fit.alpha * d + fit.beta * normal[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        usage = np.where(
            predicted > 0,
            in_normal_weather * actual / predicted,
            in_normal_weather + residual * d / n,
        )
    ok = (n > 0) & (fit.base_index >= 0)
    return Normalised(
        usage=np.where(ok, usage, np.nan),
        actual=np.where(n > 0, actual, np.nan),
        residual=np.where(ok, residual, np.nan),
        days=n.astype(np.int64),
        period_days=d,
    )
