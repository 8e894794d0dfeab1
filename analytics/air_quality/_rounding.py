"""Half-up rounding to an integer, scalar and vectorised, that agree on every float.

Defra's DAQI note says to round once, as the last step, and its tables are integer ranges, so
58.5 µg/m³ PM2.5 must become 59 (index 8). Python's ``round`` and ``np.round`` round half to
even (58.5 → 58, index 7), which is why neither is used anywhere in this package.

The vectorised form rounds the binary value half up; the scalar form rounds ``Decimal(repr(x))``
half up. They agree: ``n + 0.5`` is exactly representable, so a float's shortest repr lies on the
same side of ``n + 0.5`` as the float itself (the tests check this with hypothesis).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np
import numpy.typing as npt

# Enough digits for any finite float (the largest has 309), so quantize never overflows.
_CONTEXT = Context(prec=400)
_ONE = Decimal(1)


def round_half_up(x: float) -> int:
    """``x`` rounded to the nearest integer, halves up (callers pass x ≥ 0)."""
    if not math.isfinite(x):
        raise ValueError(f"cannot round {x!r}")
    return int(Decimal(repr(float(x))).quantize(_ONE, rounding=ROUND_HALF_UP, context=_CONTEXT))


def round_half_up_array(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Element-wise :func:`round_half_up` for x ≥ 0; NaN stays NaN."""
    floor = np.floor(x)
    # x - floor(x) is exact for every float, so the comparison sees the true fraction.
    return floor + (x - floor >= 0.5)
