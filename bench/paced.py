"""Requests at a fixed rate (open loop), for latency at a given load: ``wrk`` in Debian has no
``-R``. Request ``i`` is due at ``start + i / rate`` whatever happened to earlier ones, and its
latency runs from when it was due, so a slow answer cannot hide the queue behind it (no
coordinated omission). 50 requests a second is light work for this loop."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class Paced:
    sent: int
    seconds: float
    latencies_ms: tuple[float, ...]
    errors: int

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def _paced(url: str, rate: float, seconds: float) -> Paced:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            try:
                response = await client.get(url)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.monotonic() - due) * 1000)

        start = time.monotonic() + 0.1
        count = int(rate * seconds)
        await asyncio.gather(*(one(start + i / rate) for i in range(count)))
        elapsed = time.monotonic() - start
    return Paced(count, elapsed, tuple(latencies), errors)


def paced(url: str, *, rate: float, seconds: float) -> Paced:
    return asyncio.run(_paced(url, rate, seconds))
