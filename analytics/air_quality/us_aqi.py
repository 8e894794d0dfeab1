"""The US EPA Air Quality Index for particles, with the 2024 PM2.5 breakpoints, and NowCast.

Source: domain.md §2 (40 CFR 58 App. G; EPA 2024 PM NAAQS revision, 89 FR 16202; WAC
296-307-09860; AirNow Tech forum). For cities outside the UK.

**AQI.** Truncate the concentration (PM2.5 to 0.1 µg/m³, PM10 to 1 µg/m³), find the breakpoint
row holding it, then ``I = (I_hi - I_lo) / (BP_hi - BP_lo) x (C - BP_lo) + I_lo``, rounded to the
nearest integer (halves up). Arithmetic is exact (``Fraction`` of the decimal text), so 35.4
gives exactly 100. Decisions:

- the **2024** PM2.5 table (Good up to 9.0; the two Hazardous rows merged into 301-500);
- above the top breakpoint (after truncation: > 325.4 PM2.5, > 604 PM10) the value is "beyond
  the AQI": ``None``, not 500, so nobody reads a capped number as a measurement;
- negative concentrations are clamped to 0, as for the DAQI;
- NaN or infinity raise ``ValueError``.

**NowCast** (EPA "PM NowCast" fact sheet; AirNow forum) for hourly PM AQI: from the last 12
hourly concentrations, ``w = cmin / cmax`` over the hours present, at least 0.5; ``NowCast =
Σ w^a c_a / Σ w^a`` with ``a`` the true hours ago of each present hour (missing hours are left
out of both sums, their exponents not shifted [D]). Valid only when at least 2 of the 3 most
recent hours are present. Raw hourly values go in (negatives clamped to 0); the NowCast is
truncated only when converted to an AQI (:func:`nowcast_aqi`). Ozone's NowCast is a different,
regression-based method and is not provided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from analytics.air_quality.pollutants import UnknownPollutantError

UsPollutant = Literal["pm25", "pm10"]
US_POLLUTANTS: tuple[UsPollutant, ...] = ("pm25", "pm10")


@dataclass(frozen=True, slots=True)
class Breakpoint:
    low: Fraction
    high: Fraction
    aqi_low: int
    aqi_high: int


def _rows(*rows: tuple[str, str, int, int]) -> tuple[Breakpoint, ...]:
    return tuple(Breakpoint(Fraction(lo), Fraction(hi), a, b) for lo, hi, a, b in rows)


# µg/m³, 24-hour (and NowCast) concentrations. domain.md §2.2 [V2, six implementations agree].
BREAKPOINTS: MappingProxyType[UsPollutant, tuple[Breakpoint, ...]] = MappingProxyType(
    {
        "pm25": _rows(  # 2024 revision (89 FR 16202)
            ("0.0", "9.0", 0, 50),
            ("9.1", "35.4", 51, 100),
            ("35.5", "55.4", 101, 150),
            ("55.5", "125.4", 151, 200),
            ("125.5", "225.4", 201, 300),
            ("225.5", "325.4", 301, 500),
        ),
        "pm10": _rows(
            ("0", "54", 0, 50),
            ("55", "154", 51, 100),
            ("155", "254", 101, 150),
            ("255", "354", 151, 200),
            ("355", "424", 201, 300),
            ("425", "604", 301, 500),
        ),
    }
)

# Truncation step before lookup (WAC 296-307-09860).
TRUNCATE_TO: MappingProxyType[UsPollutant, Decimal] = MappingProxyType(
    {"pm25": Decimal("0.1"), "pm10": Decimal("1")}
)


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    low: int
    high: int
    colour: str


# EPA categories and their RGB colours (domain.md §2.2, colours [M]).
CATEGORIES: tuple[Category, ...] = (
    Category("Good", 0, 50, "#00E400"),
    Category("Moderate", 51, 100, "#FFFF00"),
    Category("Unhealthy for Sensitive Groups", 101, 150, "#FF7E00"),
    Category("Unhealthy", 151, 200, "#FF0000"),
    Category("Very Unhealthy", 201, 300, "#8F3F97"),
    Category("Hazardous", 301, 500, "#7E0023"),
)


def _us_pollutant(name: str) -> UsPollutant:
    for known in US_POLLUTANTS:
        if name == known:
            return known
    raise UnknownPollutantError(name, US_POLLUTANTS)


def truncate(pollutant: str, concentration: float) -> Fraction:
    """The concentration truncated as the AQI requires (0.1 µg/m³ PM2.5, 1 µg/m³ PM10)."""
    step = TRUNCATE_TO[_us_pollutant(pollutant)]
    if not math.isfinite(concentration):
        raise ValueError(f"{pollutant} concentration {concentration!r} is not a number")
    # The decimal text, not the binary value: 35.45 must truncate to 35.4 whatever its bits.
    exact = Decimal(repr(max(0.0, float(concentration))))
    return Fraction(exact.quantize(step, rounding=ROUND_DOWN))


def us_aqi(pollutant: str, concentration: float) -> int | None:
    """The US AQI (0-500) of a 24-hour (or NowCast) concentration in µg/m³, or ``None``
    beyond the top of the scale. ``pollutant`` is ``"pm25"`` or ``"pm10"``."""
    c = truncate(pollutant, concentration)
    for row in BREAKPOINTS[_us_pollutant(pollutant)]:
        if c <= row.high:
            index = (row.aqi_high - row.aqi_low) / (row.high - row.low) * (c - row.low)
            return math.floor(index + row.aqi_low + Fraction(1, 2))
    return None


def us_aqi_category(aqi: int) -> Category:
    """The EPA category (name and colour) of an AQI value."""
    for category in CATEGORIES:
        if category.low <= aqi <= category.high:
            return category
    raise ValueError(f"the AQI runs from 0 to 500, not {aqi}")


# --- NowCast -------------------------------------------------------------------------------

HOURS = 12
_MIN_WEIGHT = 0.5


def nowcast(hourly: Sequence[float | None]) -> float | None:
    """The NowCast from hourly concentrations, **newest first** (``None`` or NaN for a missing
    hour); only the first 12 are used. ``None`` unless 2 of the 3 most recent hours are there."""
    recent = [
        (age, c) for age, c in enumerate(hourly[:HOURS]) if c is not None and not math.isnan(c)
    ]
    if sum(1 for age, _ in recent if age < 3) < 2:
        return None
    values = [max(0.0, c) for _, c in recent]
    top = max(values)
    weight = max(min(values) / top, _MIN_WEIGHT) if top > 0 else 1.0
    terms = [(weight**age, c) for (age, _), c in zip(recent, values, strict=True)]
    return sum(w * c for w, c in terms) / sum(w for w, _ in terms)


def nowcast_aqi(pollutant: str, hourly: Sequence[float | None]) -> int | None:
    """The hourly AQI: the NowCast (newest first), truncated, then :func:`us_aqi`."""
    _us_pollutant(pollutant)
    value = nowcast(hourly)
    return None if value is None else us_aqi(pollutant, value)


def nowcast_series(hourly: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The NowCast at every hour of a series given **oldest first** (NaN for missing), NaN
    where it is not valid: element ``i`` is :func:`nowcast` of hours ``i, i-1, … i-11``."""
    values = np.asarray(hourly, dtype=np.float64)
    if not len(values):
        return np.array([], dtype=np.float64)
    padded = np.concatenate([np.full(HOURS - 1, np.nan), values])
    # Each row: one hour's window, newest first.
    windows = sliding_window_view(padded, HOURS)[:, ::-1]
    present = ~np.isnan(windows)
    clamped = np.where(present, np.maximum(windows, 0.0), np.nan)
    top = np.fmax.reduce(clamped, axis=1)
    low = np.fmin.reduce(clamped, axis=1)
    ratio = np.divide(low, top, out=np.ones_like(top), where=top > 0)
    weight = np.maximum(ratio, _MIN_WEIGHT)
    powers = np.where(present, weight[:, None] ** np.arange(HOURS), 0.0)
    sums = (powers * np.where(present, clamped, 0.0)).sum(axis=1)
    totals = powers.sum(axis=1)
    valid = present[:, :3].sum(axis=1) >= 2
    out = np.full(len(values), np.nan)
    np.divide(sums, totals, out=out, where=valid)
    return out
