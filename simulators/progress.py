"""A throttled progress line for long runs (simulated time, messages per second, devices online)."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from simulators.timetext import stamp


class Progress:
    """Writes at most one line every ``interval`` seconds to ``stream`` (stderr by default)."""

    def __init__(
        self,
        name: str,
        *,
        start: float,
        end: float | None,
        devices: int,
        stream: TextIO | None = None,
        interval: float = 2.0,
    ) -> None:
        self.name = name
        self.start, self.end = start, end
        self.devices = devices
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._tty = self.stream.isatty()
        self._began = time.monotonic()
        self._last = -math.inf
        self._last_sent = 0
        self._last_time = self._began

    def update(
        self, *, sim_time: float, sent: int, acked: int, online: int, force: bool = False
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        rate = (sent - self._last_sent) / max(now - self._last_time, 1e-9)
        self._last, self._last_sent, self._last_time = now, sent, now
        done = ""
        if self.end is not None and self.end > self.start:
            done = f" {100.0 * (sim_time - self.start) / (self.end - self.start):5.1f}%"
        line = (
            f"[{self.name}] sim {stamp(sim_time)}{done} | sent {sent:,} ({rate:,.0f}/s) "
            f"acked {acked:,} | online {online:,}/{self.devices:,} | {now - self._began:,.0f} s"
        )
        if self._tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
