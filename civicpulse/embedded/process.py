"""Supervising an embedded server: a child process, its log, its readiness, its ownership.

Each server runs in a session of its own (a terminal's Ctrl-C reaches CivicPulse, which then
stops the server in order). An ``owner.json`` beside the data records which process started it,
so that a server left behind by a run that was killed is recognised and stopped at the next
start, while a server that another live process (``civicpulse services up``) owns is reported
with its URL instead of fought over.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from civicpulse.embedded.account import Account, process_user
from civicpulse.errors import EmbeddedServiceError
from civicpulse.proc import alive

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
_LOG_TAIL_LINES = 40
_LOG_ROTATE_BYTES = 10 * 1024 * 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"last lines of {path}:\n{tail}" if tail else f"({path} is empty)"


def run_helper(
    service: str, cmd: list[str], account: Account | None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run a short helper command (e.g. initdb); raise with its output on failure."""
    logger.debug("running %s", cmd)
    try:
        result = subprocess.run(  # type: ignore[call-overload]
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **process_user(account),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedServiceError(service, f"{cmd[0]} failed: {exc}") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise EmbeddedServiceError(
            service, f"{Path(cmd[0]).name} exited with {result.returncode}:\n{output}"
        )
    return result  # type: ignore[no-any-return]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Ownership:
    """``owner.json`` in a server's data directory: who started the server, and its URL."""

    def __init__(self, data_dir: Path, service: str) -> None:
        self.path = data_dir / "owner.json"
        self.service = service

    def read(self) -> dict[str, Any] | None:
        try:
            found = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return found if isinstance(found, dict) else None

    def write(self, server_pid: int, url: str) -> None:
        record = {"owner_pid": os.getpid(), "server_pid": server_pid, "url": url}
        self.path.write_bytes(orjson.dumps(record))

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def reclaim(self, server_pid: int | None, stop_signal: signal.Signals) -> None:
        """Stop a server on this data directory that an earlier, dead run left behind.

        ``server_pid`` is the server's own record of its pid (PostgreSQL's postmaster.pid), if
        any; the ownership record is used otherwise. A server whose owner still runs is an error
        that names its URL: the user should use it rather than start another.
        """
        record = self.read() or {}
        pid = server_pid or record.get("server_pid")
        if not isinstance(pid, int) or not alive(pid):
            self.clear()
            return
        if str(self.path.parent).encode() not in cmdline(pid):
            self.clear()  # the pid was reused by an unrelated process
            return
        owner = record.get("owner_pid")
        if isinstance(owner, int) and alive(owner):
            url = record.get("url", "?")
            raise EmbeddedServiceError(
                self.service,
                f"already running on {self.path.parent} for process {owner}"
                f" (`civicpulse services up`?): use it at {url}, or stop that process first",
            )
        logger.warning(
            "embedded %s: stopping the server (pid %d) an earlier run left on %s",
            self.service,
            pid,
            self.path.parent,
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, stop_signal)
        if not wait_gone(pid, STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 10.0)
        self.clear()


class ChildProcess:
    """A server child process whose output goes to a log file."""

    def __init__(self, service: str, log_path: Path) -> None:
        self.service = service
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, cmd: list[str], account: Account | None, env: dict[str, str]) -> None:
        logger.info("starting embedded %s: %s", self.service, " ".join(cmd))
        with contextlib.suppress(FileNotFoundError):
            if self.log_path.stat().st_size > _LOG_ROTATE_BYTES:
                self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {cmd[0]}\n".encode())
            log.flush()
            if account is not None:  # the server may also open its log file itself
                os.chown(self.log_path, account.uid, account.gid)
            try:
                self.proc = subprocess.Popen(  # type: ignore[call-overload]
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # a terminal's Ctrl-C does not reach the server
                    **process_user(account),
                )
            except OSError as exc:
                raise EmbeddedServiceError(self.service, f"cannot run {cmd[0]}: {exc}") from exc

    def wait_ready(self, probe_ok: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``probe_ok()`` until True; raise with the log tail on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                self.proc = None
                raise EmbeddedServiceError(
                    self.service,
                    f"exited with code {code} while starting\n{log_tail(self.log_path)}",
                )
            if probe_ok():
                return
            if time.monotonic() > deadline:
                self.terminate(signal.SIGKILL, timeout=5.0)
                raise EmbeddedServiceError(
                    self.service, f"not {what} after {timeout:.0f} s\n{log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def terminate(self, sig: signal.Signals, timeout: float = STOP_TIMEOUT_S) -> None:
        """Send ``sig`` and wait for exit, escalating to SIGKILL after ``timeout``."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("embedded %s ignored %s, killing it", self.service, sig.name)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10.0)
        logger.info("embedded %s stopped (exit code %s)", self.service, proc.returncode)
        self.proc = None


class Service(ABC):
    """Start/stop locking, context manager and exit hook shared by the embedded servers."""

    _child: ChildProcess
    _lock: threading.RLock

    @abstractmethod
    def start(self) -> None:
        """Start the server and wait until it is ready."""

    @abstractmethod
    def _stop_on_exit(self) -> None:
        """Stop the server when the interpreter exits."""

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._child.running

    @property
    def pid(self) -> int | None:
        """PID of the server process, or None when it is not running."""
        proc = self._child.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _registered(self) -> None:
        atexit.register(self._stop_on_exit)

    def _unregistered(self) -> None:
        atexit.unregister(self._stop_on_exit)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_on_exit()
