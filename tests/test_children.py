"""``civicpulse up``'s supervision (civicpulse.cli.children) on real processes: a crash is
restarted, a mistake (exit 2) stops everything with the child's own reason, and a child that
ignores SIGTERM is killed with what it started."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from civicpulse.cli.children import Children, ChildSpec, describe
from civicpulse.proc import alive
from ingest.batching import Backoff

QUICK = Backoff(base=0.05, cap=0.1)


def _spec(name: str, code: str, log: Path) -> ChildSpec:
    return ChildSpec(name, (sys.executable, "-c", code), {"PATH": "/usr/bin:/bin"}, log)


async def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_a_crashed_child_is_restarted_and_a_steady_one_kept(tmp_path: Path) -> None:
    children = Children(backoff=QUICK, grace=5.0)
    children.start(
        _spec(
            "crashy",
            "import sys; print('started', flush=True); sys.exit(1)",
            tmp_path / "crashy.log",
        )
    )
    children.start(_spec("steady", "import time; time.sleep(60)", tmp_path / "steady.log"))
    await _until(lambda: children.restarts().get("crashy", 0) >= 3)
    steady = children.pids()["steady"]
    assert "steady" in children.running()
    assert children.restarts().get("steady") is None
    killed = await children.stop()
    assert killed == []
    assert children.failure is None
    assert not alive(steady)
    # Restarts append to the run's log: one line per start.
    assert (tmp_path / "crashy.log").read_text().count("started") >= 3


async def test_a_mistake_stops_everything_with_the_childs_reason(tmp_path: Path) -> None:
    children = Children(backoff=QUICK, grace=5.0)
    children.start(_spec("steady", "import time; time.sleep(60)", tmp_path / "steady.log"))
    log = tmp_path / "api.log"
    log.write_text("civicpulse: stale line from an earlier run\n")
    children.start(
        _spec(
            "api",
            "import sys; print('starting'); "
            "print('civicpulse: --port: port 8000 on 127.0.0.1 is in use', file=sys.stderr); "
            "sys.exit(2)",
            log,
        )
    )
    await asyncio.wait_for(children.wait(), 20)
    await children.stop()
    failure = children.failure
    assert failure is not None
    assert (failure.name, failure.code, failure.log) == ("api", 2, log)
    assert failure.said == "--port: port 8000 on 127.0.0.1 is in use"
    assert "stale line" not in log.read_text()  # a run's log starts empty
    assert children.running() == []


async def test_a_child_ignoring_sigterm_is_killed_with_its_own_children(tmp_path: Path) -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import signal, time;"
        " signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "stubborn.log"
    children = Children(backoff=QUICK, grace=0.5)
    children.start(_spec("stubborn", code, log))
    await _until(lambda: log.exists() and log.read_text().strip().isdigit())
    worker = int(log.read_text())
    leader = children.pids()["stubborn"]
    assert describe(children.names, children.running()) == "1/1 up"
    began = time.monotonic()
    assert await children.stop() == ["stubborn"]
    assert time.monotonic() - began < 5
    await _until(lambda: not alive(worker) and not alive(leader), 5)
    assert describe(["a", "b"], ["a"]) == "1/2 up (b down)"
