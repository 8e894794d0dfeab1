"""The processes ``civicpulse up`` keeps running: started, restarted when they crash, stopped.

Each child is a ``civicpulse`` command in a process group of its own, with its output appended
to a log file. The parent decides when children stop, in what order and how long they may take,
so a Ctrl-C in the terminal reaches only the parent (the terminal signals the foreground group).
Each child also asks Linux for SIGTERM should the parent die, even by SIGKILL: an orphaned ingest
or API would hold its broker session or port against the next ``civicpulse up``.

A child that exits with status 2 stopped on a mistake restarting cannot fix (a setting, a port in
use): the parent stops everything and reports the child's own ``civicpulse: …`` line. Any other
exit is a crash, restarted after a backoff that grows with quick repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.batching import Backoff

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
RESTART_BACKOFF = Backoff(base=1.0, cap=30.0)
USAGE_EXIT = 2
"""``civicpulse``'s status for a mistake the user can fix: restarting would only repeat it."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    log: Path


@dataclass(frozen=True, slots=True)
class ChildFailure:
    """A child stopped on a mistake: its name, status and what it said."""

    name: str
    code: int
    said: str
    log: Path


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    quick_exits: int = 0
    restarts: int = 0
    pids: list[int] = field(default_factory=list)


class Children:
    """Runs :class:`ChildSpec` processes until :meth:`stop`; see the module docstring."""

    def __init__(
        self,
        *,
        backoff: Backoff = RESTART_BACKOFF,
        healthy_after: float = 60.0,
        grace: float = 10.0,
    ) -> None:
        self._backoff = backoff
        self._healthy_after = healthy_after
        self._grace = grace
        self._children: dict[str, _Child] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._killed: list[str] = []
        self.failure: ChildFailure | None = None

    @property
    def stopping(self) -> asyncio.Event:
        return self._stopping

    def start(self, spec: ChildSpec) -> None:
        """Start ``spec`` now and keep it running until :meth:`stop`."""
        child = _Child(spec)
        self._children[spec.name] = child
        self._tasks.append(asyncio.create_task(self._keep(child), name=f"child {spec.name}"))

    @property
    def names(self) -> list[str]:
        return list(self._children)

    def running(self) -> list[str]:
        return [
            name
            for name, child in self._children.items()
            if child.process is not None and child.process.returncode is None
        ]

    def restarts(self) -> dict[str, int]:
        return {name: c.restarts for name, c in self._children.items() if c.restarts}

    def pids(self) -> dict[str, int]:
        """The current process id of each running child."""
        return {
            name: child.process.pid
            for name, child in self._children.items()
            if child.process is not None and child.process.returncode is None
        }

    async def wait(self) -> None:
        """Until :meth:`stop` is called or a child failed on a mistake."""
        await self._stopping.wait()

    async def stop(self) -> list[str]:
        """Stop every child (SIGTERM, then SIGKILL to its group after the grace period).

        Returns the names of the children that had to be killed."""
        self._stopping.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return list(self._killed)

    async def _keep(self, child: _Child) -> None:
        spec = child.spec
        while not self._stopping.is_set():
            try:
                process = await self._spawn(child)
            except OSError as error:  # the interpreter or the log file is not usable
                self.failure = ChildFailure(spec.name, -1, f"cannot start: {error}", spec.log)
                self._stopping.set()
                return
            exited = asyncio.ensure_future(process.wait())
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if self._stopping.is_set():
                await self._end(spec.name, process, exited)
                return
            code = exited.result()
            ran = time.monotonic() - child.started_at
            if code == USAGE_EXIT:
                self.failure = ChildFailure(spec.name, code, _said(spec.log), spec.log)
                logger.error("%s stopped on a mistake (status 2): %s", spec.name, self.failure.said)
                self._stopping.set()
                return
            child.quick_exits = 0 if ran >= self._healthy_after else child.quick_exits + 1
            delay = self._backoff.delay(max(0, child.quick_exits - 1))
            child.restarts += 1
            logger.error(
                "%s exited with status %d after %.0f s; restarting in %.1f s (log: %s)",
                spec.name,
                code,
                ran,
                delay,
                spec.log,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _end(
        self, name: str, process: asyncio.subprocess.Process, exited: asyncio.Future[int]
    ) -> None:
        """SIGTERM to the child (it forwards it to its own workers), SIGKILL after the grace."""
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        done, _ = await asyncio.wait({exited}, timeout=self._grace)
        if not done:
            logger.warning("%s did not stop within %.0f s: killing it", name, self._grace)
            self._killed.append(name)
        # Also whatever it started and left behind (a worker). A group outlives its leader only
        # while a member lives, and its id is not reused meanwhile, so this reaches no stranger.
        _signal_group(process.pid, signal.SIGKILL)
        await exited

    async def _spawn(self, child: _Child) -> asyncio.subprocess.Process:
        spec = child.spec
        spec.log.parent.mkdir(parents=True, exist_ok=True)
        # A run's logs start empty; a restarted child appends to its own earlier output.
        mode = "ab" if child.pids else "wb"
        with spec.log.open(mode) as log:  # the child keeps its own descriptor
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                env=dict(spec.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                process_group=0,
                preexec_fn=die_with_parent,
            )
        child.process = process
        child.started_at = time.monotonic()
        child.pids.append(process.pid)
        logger.info("%s started (pid %d), log %s", spec.name, process.pid, spec.log)
        return process


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _said(log: Path, limit: int = 65536) -> str:
    """The last ``civicpulse: …`` line a child wrote (its one-line reason), or its last line."""
    try:
        with log.open("rb") as stream:
            stream.seek(max(0, log.stat().st_size - limit))
            lines = stream.read().decode(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    reasons = [line for line in lines if line.startswith("civicpulse: ")]
    if reasons:
        return reasons[-1].removeprefix("civicpulse: ")
    return next((line for line in reversed(lines) if line.strip()), "(nothing logged)")


def describe(names: Sequence[str], running: Sequence[str]) -> str:
    """``5/5 up`` or ``4/5 up (api down)``."""
    down = [n for n in names if n not in running]
    text = f"{len(running)}/{len(names)} up"
    return f"{text} ({', '.join(down)} down)" if down else text
