"""The ``processes`` fixture: processes a test starts are stopped whatever the test's outcome.

A test that fails between starting an ingest process and stopping it would otherwise leave it
running (a failed run once left an ingest supervisor running for 35 minutes, holding broker
sessions and database connections). Each process starts in a session of its own, so its children
(a supervisor's workers) share its process group and are stopped with it, even after the parent
died and they were orphaned.

Test modules use it with ``pytest_plugins = ["tests.processes"]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest


class Processes:
    """Starts processes for one test; :meth:`stop_all` ends every one still running."""

    def __init__(self, *, grace: float = 5.0) -> None:
        self._grace = grace
        self._started: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: Sequence[str], *, env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` with stdout and stderr appended to ``log``."""
        with log.open("ab") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                list(args),
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: its children go with it
            )
        self._started.append(process)
        return process

    def stop_all(self) -> None:
        """SIGTERM every process group started here, then SIGKILL what is left after the grace
        period. A test that stopped its processes itself leaves nothing for this to do."""
        # Groups whose leader has exited may still hold orphaned children: signal them all.
        for process in self._started:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        for process in self._started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        while any(_group_exists(p.pid) for p in self._started) and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in self._started:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        self._started.clear()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_exists(pgid: int) -> bool:
    """Whether a live process is in group ``pgid``. Zombies do not count: orphans are reaped by
    init, which may take its time."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp
            return True
    return False


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start processes with ``processes.start(args, env=…, log=…)``; they are stopped (SIGTERM,
    then SIGKILL) when the test ends, passed or failed."""
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()
