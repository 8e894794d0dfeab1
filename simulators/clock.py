"""Simulated time against the wall clock: real time, accelerated, or backfill (no waiting).

Simulated time never runs ahead of the wall clock, because the platform quarantines readings from
more than five minutes in the future: an accelerated replay of a past period that catches up
with now carries on in real time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class SimClock:
    start: float
    speed: float
    """Simulated seconds per wall second; ``math.inf`` for backfill."""
    end: float | None = None
    wall: Callable[[], float] = time.time
    _wall0: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._wall0 = self.wall()

    @property
    def backfill(self) -> bool:
        return math.isinf(self.speed)

    def now(self) -> float:
        """The simulated instant reached by now."""
        wall = self.wall()
        if self.backfill:
            sim = self.end if self.end is not None else wall
        else:
            sim = self.start + self.speed * (wall - self._wall0)
        sim = min(sim, wall)
        return sim if self.end is None else min(sim, self.end)

    def wall_seconds_left(self) -> float | None:
        """Wall seconds until the end at the current speed (``None`` when open-ended)."""
        if self.end is None:
            return None
        if self.backfill:
            return 0.0
        return max(0.0, (self.end - self.now()) / self.speed)
