"""CPU time from ``/proc``: per process, per thread and for the whole machine.

On a 2-core machine the publisher, the broker, ingest and PostgreSQL share the same cores, so a
throughput figure means little without knowing who used them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")

Probe = Callable[[], float]


def _stat_seconds(path: str) -> float:
    """utime + stime of a ``/proc/…/stat`` file, in seconds; 0 when the process is gone."""
    try:
        with open(path, encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def process_cpu(pid: int) -> float:
    """CPU seconds ``pid`` has used so far (all its threads)."""
    return _stat_seconds(f"/proc/{pid}/stat")


def threads_cpu(pid: int) -> dict[int, float]:
    """CPU seconds used so far by each thread of ``pid``, by thread id (the main thread's is pid)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        out[int(task.name)] = _stat_seconds(f"{task}/stat")
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a supervised ingest runs its workers as child processes)."""
    out, pending = [], [pid]
    while pending:
        current = pending.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            pending.extend(int(child) for child in children)
    return out


def processes_cpu(pids: Iterable[int]) -> float:
    return sum(process_cpu(pid) for pid in pids)


def machine_busy() -> float:
    """CPU seconds all cores have spent busy (not idle or waiting for I/O) since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / _CLK_TCK


class CpuMeter:
    """CPU seconds each named probe accumulates between :meth:`start` and :meth:`stop`."""

    def __init__(self, probes: Mapping[str, Probe]) -> None:
        self._probes = dict(probes)
        self._before: dict[str, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._before = {name: probe() for name, probe in self._probes.items()}
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Seconds used per probe, plus ``wall`` (elapsed) and ``capacity`` (elapsed x cores)."""
        wall = time.monotonic() - self._started
        used = {name: probe() - self._before[name] for name, probe in self._probes.items()}
        return {**used, "wall": wall, "capacity": wall * (os.cpu_count() or 1)}
