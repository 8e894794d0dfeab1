"""Exponential backoff with jitter, so a fleet does not reconnect in lock-step after an outage."""

import random

from cpfw.compat import ticks_add, ticks_diff, ticks_ms


def delay(attempt, low, high):
    """Wait before retry number ``attempt`` (1-based): half the capped exponential, plus a random
    part of up to the other half ("equal jitter"), so the wait still grows with each failure."""
    cap = low << (attempt - 1) if attempt < 24 else high
    cap = min(high, max(low, cap))
    half = cap // 2
    return half + random.getrandbits(16) * (cap - half) // 65535


class Backoff:
    """Tracks consecutive failures and when the next try is allowed (in ticks)."""

    def __init__(self, low_ms, high_ms):
        self.low = low_ms
        self.high = high_ms
        self.failures = 0
        self._next = 0

    def ready(self):
        return self.failures == 0 or ticks_diff(ticks_ms(), self._next) >= 0

    def remaining_ms(self):
        if self.failures == 0:
            return 0
        return max(0, ticks_diff(self._next, ticks_ms()))

    def failed(self):
        self.failures += 1
        wait = delay(self.failures, self.low, self.high)
        self._next = ticks_add(ticks_ms(), wait)
        return wait

    def reset(self):
        self.failures = 0
