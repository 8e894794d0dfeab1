"""Heating degree days, UK style.

Daily heating degree days (HDD) by the **UK Met Office max-min method** [domain.md §4.3, V:
vesma.com, degreedaysdirect.com], with base temperature ``Tb`` (15.5 °C, the UK default) and the
day's maximum and minimum temperature; the first matching row applies:

============================  ==================================
condition                     daily HDD
============================  ==================================
``Tmin > Tb``                 ``0``
``(Tmax + Tmin) / 2 > Tb``    ``(Tb - Tmin) / 4``
``Tmax >= Tb``                ``(Tb - Tmin) / 2 - (Tmax - Tb) / 4``
``Tmax < Tb``                 ``Tb - (Tmax + Tmin) / 2``
============================  ==================================

Unlike North America's ``max(0, Tb - Tmean)``, a day whose mean is above the base still counts
some heating when its night was cold. The standard UK year at 15.5 °C (2,462-2,463 HDD, vesma
std-year) is kept for reports that quote "a normal January".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.energy.calendar import Floats

UK_BASE_C = 15.5

UK_STANDARD_MONTHLY_HDD: tuple[float, ...] = (
    395.0, 342.0, 297.0, 233.0, 151.0, 77.0, 42.0, 44.5, 83.0, 177.0, 275.0, 346.0,
)  # fmt: skip
"""Standard UK year at 15.5 °C, January to December (August is quoted as 44 or 45)."""


def heating_degree_days(tmax_c: float, tmin_c: float, base_c: float = UK_BASE_C) -> float:
    """Heating degree days of one day by the UK Met Office max-min method."""
    return float(heating_degree_days_array(tmax_c, tmin_c, base_c))


def heating_degree_days_array(
    tmax_c: ArrayLike, tmin_c: ArrayLike, base_c: ArrayLike = UK_BASE_C
) -> Floats:
    """:func:`heating_degree_days` element-wise; the arguments broadcast, NaN stays NaN.

    Passing ``tmax[:, None]``, ``tmin[:, None]`` and ``bases[None, :]`` gives days x bases.
    """
    tmax = np.asarray(tmax_c, dtype=np.float64)
    tmin = np.asarray(tmin_c, dtype=np.float64)
    base = np.asarray(base_c, dtype=np.float64)
    mean = (tmax + tmin) / 2.0
    result: Floats = np.select(
        [tmin > base, mean > base, tmax >= base, tmax < base],
        [
            np.zeros(np.broadcast_shapes(tmax.shape, tmin.shape, base.shape)),
            (base - tmin) / 4.0,
            (base - tmin) / 2.0 - (tmax - base) / 4.0,
            base - mean,
        ],
        default=np.nan,
    )
    return result


def degree_day_table(tmax_c: ArrayLike, tmin_c: ArrayLike, bases_c: ArrayLike) -> Floats:
    """Days x bases of daily HDD: the design matrix of the base-temperature search."""
    tmax = np.asarray(tmax_c, dtype=np.float64).reshape(-1, 1)
    tmin = np.asarray(tmin_c, dtype=np.float64).reshape(-1, 1)
    bases = np.asarray(bases_c, dtype=np.float64).reshape(1, -1)
    return heating_degree_days_array(tmax, tmin, bases)
