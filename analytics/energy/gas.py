"""Gas volume to energy, the way GB bills do it (Gas (Calculation of Thermal Energy) Regs 1996).

``kWh = m3 * 1.02264 * CV / 3.6`` [domain.md §4.4, V: Shell Energy, Igloo, Outfox]:

- 1.02264 corrects the metered volume to standard temperature and pressure; it "is always
  1.02264";
- CV is the calorific value in MJ/m³, the period average printed on the bill (typically
  37.5-43); 39.5 is the default when the bill's is not known;
- ÷ 3.6 turns MJ into kWh;
- an imperial meter reads hundreds of cubic feet: multiply by 2.83 first.

Nothing is rounded here: bills print whole kWh, reports choose their own rounding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from analytics.energy.calendar import Floats

VOLUME_CORRECTION = 1.02264
DEFAULT_CALORIFIC_VALUE_MJ_PER_M3 = 39.5
MJ_PER_KWH = 3.6
M3_PER_HUNDRED_CUBIC_FEET = 2.83


def gas_m3_to_kwh(
    volume_m3: float, calorific_value_mj_per_m3: float = DEFAULT_CALORIFIC_VALUE_MJ_PER_M3
) -> float:
    """Energy in kWh of ``volume_m3`` of gas at the given calorific value."""
    return volume_m3 * VOLUME_CORRECTION * calorific_value_mj_per_m3 / MJ_PER_KWH


def gas_m3_to_kwh_array(
    volume_m3: ArrayLike, calorific_value_mj_per_m3: ArrayLike = DEFAULT_CALORIFIC_VALUE_MJ_PER_M3
) -> Floats:
    """:func:`gas_m3_to_kwh` element-wise (NaN stays NaN)."""
    volume = np.asarray(volume_m3, dtype=np.float64)
    cv = np.asarray(calorific_value_mj_per_m3, dtype=np.float64)
    result: Floats = volume * VOLUME_CORRECTION * cv / MJ_PER_KWH
    return result


def imperial_to_m3(hundreds_of_cubic_feet: float) -> float:
    """Volume in m³ of an imperial meter's reading (hundreds of cubic feet)."""
    return hundreds_of_cubic_feet * M3_PER_HUNDRED_CUBIC_FEET
