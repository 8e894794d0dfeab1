"""One month's nudge run, timed in a process of its own (so its peak memory is the run's).

``run_period`` is called as ``civicpulse analytics nudges`` calls it. A thread samples, every
0.1 s, this process's CPU time and memory and those of the PostgreSQL backends serving it, so the
run's phases (read, compute, write: ``RunReport``'s own timings) can be split into database and
Python time. Prints one JSON line.

    .venv/bin/python -m bench.nudge_run --database-url URL --period 2026-10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK")
PROGRAMME = "bench-home-energy-reports"


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process (``"self"`` for this one); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def memory(pid: int | str) -> tuple[int, int]:
    """(resident, anonymous) bytes of a process, from ``/proc/<pid>/status`` (cheap to read,
    unlike ``smaps``). A PostgreSQL backend's resident memory counts the shared buffers it has
    touched; its anonymous memory is its own (sorts, hash tables, arrays)."""
    resident = anonymous = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name == "VmRSS":
                    resident = int(rest.split()[0]) * 1024
                elif name == "RssAnon":
                    anonymous = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return resident, anonymous


@dataclass(slots=True)
class Sampler:
    """Samples (time, own CPU, backends' CPU, own RSS, backends' RSS and anonymous memory)."""

    backends: Sequence[int]
    interval: float = 0.1
    samples: list[tuple[float, float, float, int, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        own = memory("self")
        theirs = [memory(pid) for pid in self.backends]
        self.samples.append(
            (
                time.perf_counter(),
                cpu_seconds("self"),
                sum(cpu_seconds(pid) for pid in self.backends),
                own[0],
                sum(m[0] for m in theirs),
                sum(m[1] for m in theirs),
            )
        )

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def cpu_between(self, t0: float, t1: float) -> tuple[float, float]:
        """(own, backends') CPU seconds between two instants (nearest samples)."""
        first = min(self.samples, key=lambda s: abs(s[0] - t0))
        last = min(self.samples, key=lambda s: abs(s[0] - t1))
        return last[1] - first[1], last[2] - first[2]


async def _run(url: str, period_text: str, readers: int) -> dict[str, Any]:
    from analytics.nudges import Period, run_period
    from storage import energy
    from storage.connection import connect
    from storage.energy import Programme

    period = Period.month(period_text)
    async with await connect(url, autocommit=True) as conn:
        extra = [await connect(url, autocommit=True) for _ in range(readers - 1)]
        try:
            await energy.save_programme(conn, Programme(PROGRAMME, "Benchmark reports"))
            programme = await energy.programme(conn, PROGRAMME)
            assert programme is not None
            pids = []
            for c in (conn, *extra):
                row = await (await c.execute("SELECT pg_backend_pid()")).fetchone()
                assert row is not None
                pids.append(int(str(row[0])))
            rss_before = memory("self")[0]
            sampler = Sampler(pids)
            sampler.start()
            began = time.perf_counter()
            report = await run_period(conn, programme, period, readers=extra)
            total = time.perf_counter() - began
            sampler.stop()
        finally:
            for c in extra:
                await c.close()
    marks = [began]
    for seconds in (report.seconds_reading, report.seconds_computing, report.seconds_writing):
        marks.append(marks[-1] + seconds)
    phases = {}
    for name, (t0, t1) in zip(("read", "compute", "write"), itertools.pairwise(marks), strict=True):
        own, backends = sampler.cpu_between(t0, t1)
        phases[name] = {"seconds": t1 - t0, "python_cpu": own, "postgresql_cpu": backends}
    return {
        "households": report.households,
        "compared": report.compared,
        "withheld": report.withheld,
        "ratings": report.ratings,
        "seconds": total,
        "phases": phases,
        "readers": readers,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_before": rss_before,
        "postgresql_peak_rss": max(s[4] for s in sampler.samples),
        "postgresql_peak_anonymous": max(s[5] for s in sampler.samples),
    }


def profiled(url: str, period: str, workdir: Path) -> str:
    """Run the month under ``py-spy record`` and summarise where the time went (not a figure)."""
    from bench.profile import summarise

    out = workdir / "nudges.pyspy.txt"
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return "py-spy is not installed (.venv/bin/pip install py-spy)"
    done = subprocess.run(
        [str(py_spy), "record", "--format", "raw", "--output", str(out), "--rate", "50", "--",
         sys.executable, "-m", "bench.nudge_run", "--database-url", url, "--period", period],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    if done.returncode != 0:
        return f"py-spy failed: {done.stderr[-500:]}"
    return summarise(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nudge_run")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--period", required=True, metavar="YYYY-MM")
    parser.add_argument(
        "--readers",
        type=int,
        default=2,
        help="connections reading the daily data (default 2, as `analytics nudges` does)",
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_run(args.database_url, args.period, args.readers))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
