"""Pure policies of the ingest loop: when to flush a batch and how long to back off."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """Flush when ``max_messages`` are pending or the oldest has waited ``max_delay`` seconds."""

    max_messages: int = 5000
    max_delay: float = 0.05

    def wait_time(self, pending: int, oldest_age: float) -> float:
        """Seconds to wait before flushing; 0 means flush now. No pending messages: wait a tick."""
        if pending >= self.max_messages:
            return 0.0
        if pending == 0:
            return self.max_delay
        return max(0.0, self.max_delay - oldest_age)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter (so restarted fleets do not retry in step)."""

    base: float = 0.25
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 30))
        return (rng or random).uniform(ceiling / 2, ceiling)
