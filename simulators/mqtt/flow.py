"""Back-pressure shared by many sessions: how many messages are queued or unacknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Flow:
    """Counts outstanding messages across sessions and lets a producer wait for room."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.acked = 0
        self.discarded = 0
        self._changed = asyncio.Event()

    def add(self, n: int) -> None:
        self.outstanding += n

    def done(self, n: int, *, acked: bool = True) -> None:
        """``n`` messages left the queue: acknowledged, or discarded unsent."""
        self.outstanding -= n
        if acked:
            self.acked += n
        else:
            self.discarded += n
        self._changed.set()

    async def below(self, limit: int) -> None:
        """Return once at most ``limit`` messages are outstanding."""
        while self.outstanding > limit:
            self._changed.clear()
            await self._changed.wait()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds (checked after each acknowledgement)."""
        while not condition():
            self._changed.clear()
            await self._changed.wait()
