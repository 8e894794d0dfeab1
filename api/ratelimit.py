"""Rate limits: a token bucket per API key (and per client address without a key). Pure.

Each bucket holds up to ``rate`` tokens (a minute's allowance, so a client may burst) and
refills at ``rate / 60`` a second; a request takes one. An empty bucket answers how long until
the next token, which the API sends as ``Retry-After``.

The buckets live in the memory of one process. With ``--workers N`` each worker keeps its own,
so a client spread over several workers may get up to N times the rate. That is deliberate: the
limit protects the database from a runaway client, it is not billing, and a shared bucket would
cost a database write per request. A hard, global limit belongs at the reverse proxy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key (``key:12``, ``ip:203.0.113.9``), each with its own rate."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, rate_per_minute: int) -> float:
        """Take a token: ``0.0`` when the request may go ahead, else seconds until it may."""
        if rate_per_minute <= 0:
            return 0.0  # no limit configured
        now = self._clock()
        per_second = rate_per_minute / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self._forget_full(now, per_second, rate_per_minute)
            bucket = self._buckets[key] = _Bucket(float(rate_per_minute), now)
        else:
            bucket.tokens = min(
                float(rate_per_minute), bucket.tokens + (now - bucket.at) * per_second
            )
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / per_second

    def wait(self, key: str, rate_per_minute: int) -> float:
        """Seconds until ``key`` has a token, without taking one."""
        bucket = self._buckets.get(key)
        if bucket is None or rate_per_minute <= 0:
            return 0.0
        per_second = rate_per_minute / 60.0
        tokens = min(
            float(rate_per_minute), bucket.tokens + (self._clock() - bucket.at) * per_second
        )
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / per_second

    def _forget_full(self, now: float, per_second: float, capacity: int) -> None:
        """Drop buckets that have refilled (they behave as new ones), keeping memory bounded
        whatever the number of clients; if none has, drop the oldest half."""
        refill_s = capacity / per_second
        stale = [k for k, b in self._buckets.items() if now - b.at >= refill_s]
        if not stale:
            by_age = sorted(self._buckets, key=lambda k: self._buckets[k].at)
            stale = by_age[: len(by_age) // 2 or 1]
        for key in stale:
            del self._buckets[key]


def retry_after(seconds: float) -> str:
    """``Retry-After`` in whole seconds, never 0 (a client told 0 retries at once)."""
    return str(max(1, math.ceil(seconds)))
