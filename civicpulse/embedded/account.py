"""Running as root: embedded servers run as an unprivileged service account.

PostgreSQL refuses to run as root, and a broker has no need to. Under root, both run as
``civicpulse`` (``CIVICPULSE_EMBEDDED_USER``), created as a system user when missing. Their data
lives where that account can own it (the default for root is ``/var/lib/civicpulse``); CivicPulse
changes the permissions of directories it creates itself, never of one that already existed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from civicpulse.errors import EmbeddedServiceError

logger = logging.getLogger(__name__)

ENV_SERVICE_USER = "CIVICPULSE_EMBEDDED_USER"
"""Environment variable naming the OS account the servers run as under root."""
DEFAULT_SERVICE_USER = "civicpulse"
EXTRA_SBIN = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")


@dataclass(frozen=True, slots=True)
class Account:
    """The OS account a server process runs as."""

    name: str
    uid: int
    gid: int


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _lookup(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


@functools.cache
def service_account() -> Account:
    """The account servers run as under root, created as a system user if needed."""
    name = os.environ.get(ENV_SERVICE_USER) or DEFAULT_SERVICE_USER
    account = _lookup(name)
    if account is not None:
        return account
    useradd = shutil.which("useradd") or next(
        (f"{d}/useradd" for d in EXTRA_SBIN if Path(d, "useradd").exists()), None
    )
    if useradd is not None:
        nologin = next(
            (p for p in ("/usr/sbin/nologin", "/sbin/nologin") if Path(p).exists()), "/bin/false"
        )
        cmd = [useradd, "--system", "--user-group", "--no-create-home"]
        cmd += ["--home-dir", "/nonexistent", "--shell", nologin, name]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        account = _lookup(name)
        if account is not None:
            logger.warning("running as root: created system user %r for embedded services", name)
            return account
        logger.warning("could not create system user %r: %s", name, result.stderr.strip())
    account = _lookup("nobody")
    if account is None:
        raise EmbeddedServiceError(
            "service account", f"running as root and neither {name!r} nor 'nobody' exists"
        )
    logger.warning("running as root: embedded services run as 'nobody'")
    return account


def account_for(path: Path) -> Account | None:
    """The account to run a server owning ``path`` as (``None``: as ourselves)."""
    if not is_root():
        return None
    with contextlib.suppress(FileNotFoundError):
        info = path.stat()
        if info.st_uid != 0:
            try:
                entry = pwd.getpwuid(info.st_uid)
                return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
            except KeyError:
                return Account(str(info.st_uid), info.st_uid, info.st_gid)
    return service_account()


def can_search(info: os.stat_result, account: Account) -> bool:
    if info.st_uid == account.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == account.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def first_blocking(path: Path, account: Account) -> Path | None:
    """The first directory on the way to ``path`` that ``account`` cannot pass, if any."""
    for directory in reversed((path, *path.parents)):
        if directory.exists() and not can_search(directory.stat(), account):
            return directory
    return None


def prepare_dir(path: Path, account: Account | None) -> None:
    """Create ``path`` (mode 0700) owned by ``account``.

    Directories created here on the way are made passable (0755); an existing directory the
    account cannot pass is an error naming it, never a permission change.
    """
    created = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    if account is not None:
        for directory in created[1:]:
            directory.chmod(0o755)
        blocking = first_blocking(path.parent, account)
        if blocking is not None:
            raise EmbeddedServiceError(
                "data directory",
                f"the service account {account.name!r} cannot reach {path}: {blocking} is"
                " closed to other users. Set CIVICPULSE_DATA_DIR to a directory outside it"
                " (as root the default is /var/lib/civicpulse)",
            )
        if path.stat().st_uid != account.uid:
            os.chown(path, account.uid, account.gid)
    path.chmod(0o700)


def process_user(account: Account | None) -> dict[str, object]:
    """``subprocess`` keyword arguments that run a child as ``account`` (none: as ourselves)."""
    if account is None:
        return {}
    # Dropping root also drops root's supplementary groups.
    return {"user": account.uid, "group": account.gid, "extra_groups": []}
