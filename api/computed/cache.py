"""A brief, per-process cache for analytics results that are costly to compute.

A result is computed once for everyone asking while it is being computed (no stampede of
identical queries after it expires) and kept ``ttl_s`` seconds. Failures are not kept. Each app
has its own caches (:class:`Cached` finds them in the app's state), and each worker process its
own app: workers may compute the same result once each.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Request

V = TypeVar("V")


class Memo(Generic[V]):
    def __init__(self, *, ttl_s: float, size: int = 256) -> None:
        self.ttl_s = ttl_s
        self._size = size
        self._done: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[V]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[V]]) -> V:
        kept = self._done.get(key)
        if kept is not None and time.monotonic() - kept[0] < self.ttl_s:
            return kept[1]
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await compute()
        except asyncio.CancelledError:
            future.cancel()  # its caller went away; others waiting ask again
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(value)
            self._done[key] = (time.monotonic(), value)
            self._done.move_to_end(key)
            while len(self._done) > self._size:
                self._done.popitem(last=False)
            return value
        finally:
            del self._running[key]


@dataclass(frozen=True, slots=True)
class Cached(Generic[V]):
    """A named cache, one per app: ``await SNAPSHOTS.of(request).get(key, compute)``."""

    name: str
    ttl_s: float
    size: int = 256

    def of(self, request: Request) -> Memo[V]:
        state = request.app.state
        caches: dict[str, Memo[V]] | None = getattr(state, "caches", None)
        if caches is None:
            caches = state.caches = {}
        found = caches.get(self.name)
        if found is None:
            found = caches[self.name] = Memo(ttl_s=self.ttl_s, size=self.size)
        return found
