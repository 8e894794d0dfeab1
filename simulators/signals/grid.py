"""Slow city-wide series (weather, regional pollution) computed once on a grid and interpolated.

Every device of a city feels the same weather; evaluating it once per five minutes of simulated
time and interpolating for each device keeps ten thousand devices cheap. The grid is fixed in
absolute time, so results do not depend on how a run is windowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from simulators.signals.noise import Floats

Series = Callable[[Floats], dict[str, Floats]]


class Grid:
    """``series(t)`` sampled every ``step`` seconds in day-long chunks, linearly interpolated."""

    def __init__(self, series: Series, *, step: float = 300.0, chunk: float = 86_400.0) -> None:
        self._series = series
        self._step = step
        self._chunk = chunk
        self._points = round(chunk / step)
        self._cache: dict[int, dict[str, Floats]] = {}

    def _chunk_values(self, index: int) -> dict[str, Floats]:
        values = self._cache.get(index)
        if values is None:
            if len(self._cache) > 1024:
                self._cache.clear()
            xs = index * self._chunk + self._step * np.arange(self._points + 1, dtype=np.float64)
            values = self._cache[index] = self._series(xs)
        return values

    def at(self, t: ArrayLike) -> dict[str, Floats]:
        """Every series at instants ``t`` (interpolated between grid points)."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        first = math.floor(float(ts.min()) / self._chunk)
        last = math.floor(float(ts.max()) / self._chunk)
        chunks = [self._chunk_values(i) for i in range(first, last + 1)]
        position = (ts - first * self._chunk) / self._step
        out: dict[str, Floats] = {}
        for name in chunks[0]:
            if len(chunks) == 1:
                ys = chunks[0][name]
            else:
                ys = np.concatenate([c[name][:-1] for c in chunks[:-1]] + [chunks[-1][name]])
            out[name] = np.interp(position, np.arange(ys.size, dtype=np.float64), ys)
        return out
