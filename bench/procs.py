"""Child processes of a benchmark phase: the lean publisher, and watching a process's memory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
"""The repository root: child processes run ``python -m bench.…`` from here."""


def interrupt_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so that a benchmark stopped by ``kill`` or a timeout
    runs its ``finally`` blocks and stops the brokers, ingest and simulators it started (they
    run in sessions of their own and would otherwise outlive it)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def rss_bytes(pid: int) -> int | None:
    """``VmRSS`` of ``pid`` and its descendants (supervised ingest workers) from
    ``/proc/<pid>/status``; ``None`` once the process is gone."""
    from bench.cpu import tree

    own = _own_rss(pid)
    if own is None:
        return None
    return own + sum(_own_rss(child) or 0 for child in tree(pid)[1:])


def _own_rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssSampler:
    """Samples a process's resident memory on a thread every ``interval`` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.samples: list[int] = []

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            rss = rss_bytes(self._pid)
            if rss is not None:
                self.samples.append(rss)
            if self._stop.wait(self._interval):
                return


@dataclass(frozen=True, slots=True)
class PublishResult:
    sent: int
    first_publish: float
    last_puback: float
    cpu_seconds: float
    """The publisher's own CPU time while publishing."""

    @property
    def rate(self) -> float:
        seconds = self.last_puback - self.first_publish
        return self.sent / seconds if seconds > 0 else 0.0


class Publisher:
    """A :mod:`bench.publisher` process: connected and packets encoded before :meth:`go`."""

    def __init__(self, *, port: int, messages: Path, client_id: str, window: int) -> None:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.publisher",
                "--port",
                str(port),
                "--messages",
                str(messages),
                "--client-id",
                client_id,
                "--window",
                str(window),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        ready = self._stdout.readline().strip()
        if ready != "ready":
            self._proc.kill()
            raise RuntimeError(f"publisher did not start (said {ready!r})")

    @property
    def _stdout(self) -> IO[str]:
        assert self._proc.stdout is not None
        return self._proc.stdout

    def go(self) -> None:
        """Start publishing now."""
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def result(self, timeout: float) -> PublishResult:
        """Wait until every message is acknowledged by the broker."""
        out, _ = self._proc.communicate(timeout=timeout)
        if self._proc.returncode != 0:
            raise RuntimeError(f"publisher exited with {self._proc.returncode}")
        found = json.loads(out.strip().splitlines()[-1])
        return PublishResult(
            sent=int(found["sent"]),
            first_publish=float(found["first_publish"]),
            last_puback=float(found["last_puback"]),
            cpu_seconds=float(found["cpu_seconds"]),
        )

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
