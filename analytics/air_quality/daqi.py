"""The UK Daily Air Quality Index (DAQI): Defra's 1-10 index for one pollutant.

Source: domain.md §1 (Defra UK-AIR DAQI page; Defra, *Update on Implementation of the DAQI*,
April 2013; COMEAP 2011). Bands are integer ranges in µg/m³, both ends inclusive:

====== ========= ========= ========= ========= ========= =========
Index  Band      O3 8 h    NO2 1 h   SO2 15 m  PM2.5 24h PM10 24 h
====== ========= ========= ========= ========= ========= =========
1      Low       0-33      0-67      0-88      0-11      0-16
2      Low       34-66     68-134    89-177    12-23     17-33
3      Low       67-100    135-200   178-266   24-35     34-50
4      Moderate  101-120   201-267   267-354   36-41     51-58
5      Moderate  121-140   268-334   355-443   42-47     59-66
6      Moderate  141-160   335-400   444-532   48-53     67-75
7      High      161-187   401-467   533-710   54-58     76-83
8      High      188-213   468-534   711-887   59-64     84-91
9      High      214-240   535-600   888-1064  65-70     92-100
10     Very High ≥ 241     ≥ 601     ≥ 1065    ≥ 71      ≥ 101
====== ========= ========= ========= ========= ========= =========

Decisions (domain.md §1.4, §6.1):

- The concentration given is already the pollutant's DAQI average (:mod:`.averaging`), computed
  from unrounded readings. It is **rounded once, half up** (``Decimal`` ``ROUND_HALF_UP``), then
  looked up: 11.4 → 11 → 1, 11.5 → 12 → 2, 58.5 → 59 → 8. Never Python's ``round``, whose
  half-to-even rule gives 58.5 → 58 → 7.
- **Negative concentrations** (instrument noise near zero) are clamped to 0, index 1: a reading
  of -2 µg/m³ says "clean air", and dropping it would cost data capture. Readings far below
  zero are faults that :mod:`.qc` flags before they get here.
- NaN or infinite concentrations are refused with ``ValueError``; the array form returns
  :data:`NO_INDEX` for NaN instead, since missing periods are normal in a series.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from analytics.air_quality._rounding import round_half_up, round_half_up_array
from analytics.air_quality.pollutants import Pollutant
from analytics.air_quality.pollutants import pollutant as as_pollutant

Indices = npt.NDArray[np.int8]

NO_INDEX = 0
"""The array forms' value for a period without an index (insufficient data)."""

# Upper bounds (inclusive, µg/m³) of indices 1-9; above the last is 10. Defra 2013 via domain.md
# §1.3 (NO2 checked against the Defra page; all five columns agree in three implementations).
BREAKPOINTS: MappingProxyType[Pollutant, tuple[int, ...]] = MappingProxyType(
    {
        "o3": (33, 66, 100, 120, 140, 160, 187, 213, 240),
        "no2": (67, 134, 200, 267, 334, 400, 467, 534, 600),
        "so2": (88, 177, 266, 354, 443, 532, 710, 887, 1064),
        "pm25": (11, 23, 35, 41, 47, 53, 58, 64, 70),
        "pm10": (16, 33, 50, 58, 66, 75, 83, 91, 100),
    }
)

# What each sub-index is computed from (domain.md §1.2), as shown next to it.
AVERAGING: MappingProxyType[Pollutant, str] = MappingProxyType(
    {
        "o3": "running 8-hour mean",
        "no2": "hourly mean",
        "so2": "15-minute mean",
        "pm25": "24-hour mean",
        "pm10": "24-hour mean",
    }
)

_UPPERS = {name: np.array(bounds, dtype=np.float64) for name, bounds in BREAKPOINTS.items()}


def daqi_index(pollutant: str, concentration_ugm3: float) -> int:
    """The DAQI (1-10) for ``pollutant`` at a concentration already averaged over its
    DAQI period, in µg/m³.

    Raises :class:`~.pollutants.UnknownPollutantError` for a name other than ``"o3"``,
    ``"no2"``, ``"so2"``, ``"pm25"``, ``"pm10"`` and ``ValueError`` for NaN or infinity."""
    bounds = BREAKPOINTS[as_pollutant(pollutant)]
    if not math.isfinite(concentration_ugm3):
        raise ValueError(f"{pollutant} concentration {concentration_ugm3!r} is not a number")
    rounded = round_half_up(max(0.0, float(concentration_ugm3)))
    return 1 + sum(1 for upper in bounds if rounded > upper)


def daqi_indices(pollutant: str, concentrations_ugm3: npt.ArrayLike) -> Indices:
    """:func:`daqi_index` element-wise, with :data:`NO_INDEX` where a value is NaN."""
    uppers = _UPPERS[as_pollutant(pollutant)]
    values = np.asarray(concentrations_ugm3, dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError(f"{pollutant} concentrations must be finite or NaN")
    missing = np.isnan(values)
    rounded = round_half_up_array(np.maximum(np.where(missing, 0.0, values), 0.0))
    index = 1 + np.searchsorted(uppers, rounded, side="left")
    return np.where(missing, NO_INDEX, index).astype(np.int8)
