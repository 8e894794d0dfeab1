"""``civicpulse devices provision|revoke`` and ``civicpulse broker …``: broker credentials."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from civicpulse.errors import ConfigError, UsageError
from civicpulse.settings import Settings
from devices.broker_files import write_broker_files
from devices.credentials import Account
from storage.connection import connect
from storage.credentials import (
    active_accounts,
    provision,
    revoke,
    service_account,
)


def add_device_parsers(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``devices provision`` and ``devices revoke``."""
    p = devices.add_parser("provision", help="issue per-device broker credentials (shown once)")
    p.add_argument("device_ids", nargs="*", help="default: every device without a credential")
    p.add_argument("--rotate", action="store_true", help="replace the named devices' secrets")
    p.add_argument(
        "--secrets-out",
        type=Path,
        help="write device_id,secret CSV to this new file (mode 0600) instead of stdout",
    )
    _broker_options(p)
    p.set_defaults(run=_provision)
    p = devices.add_parser("revoke", help="revoke a device's credential (disconnects it on reload)")
    p.add_argument("device_id")
    _broker_options(p)
    p.set_defaults(run=_revoke)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broker = sub.add_parser("broker", help="broker accounts and files").add_subparsers(
        metavar="task"
    )
    p = broker.add_parser("account", help="create or rotate a service account, e.g. svc-ingest")
    p.add_argument("username")
    p.add_argument(
        "--secret-out",
        type=Path,
        help="write username,secret to this new file (mode 0600) instead of stdout",
    )
    _broker_options(p)
    p.set_defaults(run=_account)
    p = broker.add_parser("files", help="rewrite the password and ACL files from the database")
    _broker_options(p)
    p.set_defaults(run=_files)


def _broker_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--file-mode",
        type=lambda v: int(v, 8),
        default=0o640,
        help="permissions of passwd and acl (octal, default 640)",
    )
    p.add_argument(
        "--broker-dir",
        type=Path,
        help="where Mosquitto reads passwd and acl (default CIVICPULSE_BROKER_CONFIG_DIR)",
    )
    p.add_argument(
        "--file-owner",
        type=_owner,
        metavar="UID[:GID]",
        help="chown passwd and acl, e.g. 1883:1883 for the Mosquitto image",
    )
    reload = p.add_mutually_exclusive_group()
    reload.add_argument("--reload-pid", type=Path, help="send SIGHUP to the pid in this file")
    reload.add_argument(
        "--reload-command",
        help="run this to reload the broker, e.g. 'docker compose kill -s HUP mosquitto'",
    )


def _owner(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    return int(uid), int(gid or uid)


def _check_new_file(option: str, path: Path | None) -> None:
    """Refuse before any secret is made: a secret is shown once, so it is never overwritten."""
    if path is None:
        return
    if path.exists():
        raise ConfigError(option, f"{path} exists; secrets are written once, to a new file")
    if not path.parent.is_dir():
        raise ConfigError(option, f"{path.parent} is not a directory")


def _write_secrets(option: str, path: Path | None, text: str, count: int) -> None:
    """Secrets to a new file only its owner can read (0600), or to stdout."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise ConfigError(option, f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text)
    print(
        f"{count} secret{'s' if count != 1 else ''} written to {path} (mode 0600)", file=sys.stderr
    )


def _provision(settings: Settings, args: argparse.Namespace) -> int:
    _check_new_file("--secrets-out", args.secrets_out)

    async def run() -> list[tuple[str, str]]:
        async with await connect(settings.require_database_url()) as conn:
            return await provision(conn, args.device_ids or None, rotate=args.rotate)

    issued = asyncio.run(run())
    lines = "device_id,secret\n" + "".join(f"{d},{s}\n" for d, s in issued)
    _write_secrets("--secrets-out", args.secrets_out, lines, len(issued))
    _publish(settings, args)
    print(
        f"provisioned {len(issued)} devices; secrets are not stored and cannot be shown again",
        file=sys.stderr,
    )
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> None:
        async with await connect(settings.require_database_url()) as conn:
            await revoke(conn, args.device_id)

    asyncio.run(run())
    _publish(settings, args)
    print(f"revoked {args.device_id}")
    return 0


def _account(settings: Settings, args: argparse.Namespace) -> int:
    _check_new_file("--secret-out", args.secret_out)

    async def run() -> str:
        async with await connect(settings.require_database_url()) as conn:
            return await service_account(conn, args.username)

    secret = asyncio.run(run())
    _write_secrets("--secret-out", args.secret_out, f"{args.username},{secret}\n", 1)
    _publish(settings, args)
    return 0


def _files(settings: Settings, args: argparse.Namespace) -> int:
    _publish(settings, args)
    return 0


def _publish(settings: Settings, args: argparse.Namespace) -> None:
    """Rewrite the broker's files from the database, then ask the broker to reload them."""
    directory = args.broker_dir or settings.broker_config_dir

    async def accounts() -> list[Account]:
        async with await connect(settings.require_database_url()) as conn:
            return await active_accounts(conn)

    found = asyncio.run(accounts())
    passwd, acl = write_broker_files(directory, found, mode=args.file_mode, owner=args.file_owner)
    print(f"wrote {passwd} ({len(found)} accounts) and {acl}", file=sys.stderr)
    if args.reload_pid is not None:
        _reload_by_pid(args.reload_pid)
    elif args.reload_command:
        try:
            subprocess.run(shlex.split(args.reload_command), check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise UsageError(
                "--reload-command",
                f"{error}; the database and the broker's files are updated, so reload the broker"
                " yourself for the change to take effect",
            ) from None


def _reload_by_pid(pid_file: Path) -> None:
    not_reloaded = (
        "the database and the broker's files are updated, but the broker has not reloaded them:"
        " send it SIGHUP yourself (kill -HUP <pid>), or fix --reload-pid"
    )
    try:
        pid = int(pid_file.read_text().split()[0])
    except FileNotFoundError:
        raise UsageError("--reload-pid", f"{pid_file} does not exist; {not_reloaded}") from None
    except (OSError, ValueError, IndexError):
        raise UsageError("--reload-pid", f"{pid_file} holds no pid; {not_reloaded}") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise UsageError(
            "--reload-pid", f"no process {pid} (from {pid_file}) is running; {not_reloaded}"
        ) from None
    except PermissionError:
        raise UsageError(
            "--reload-pid", f"not allowed to signal pid {pid}; {not_reloaded}"
        ) from None
    print(f"sent SIGHUP to the broker (pid {pid})", file=sys.stderr)
