"""Credentials in the database, and Mosquitto's files written from them (adapter)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

from civicpulse.errors import RegistryError
from devices.credentials import (
    SERVICE_PREFIX,
    Account,
    acl_file,
    check_device_username,
    generate_secret,
    hash_secret,
    password_file,
)

Conn = psycopg.AsyncConnection[tuple[object, ...]]


async def provision(
    conn: Conn, device_ids: Sequence[str] | None, *, rotate: bool = False
) -> list[tuple[str, str]]:
    """New secrets for devices without one (or, with ``rotate``, for the named ones).

    ``device_ids=None`` means every registered device without an active credential. Returns
    ``(device_id, secret)`` pairs: the only time a secret exists outside the device.
    """
    async with conn.transaction():
        if device_ids is None:
            cur = await conn.execute(
                "SELECT d.device_id FROM devices d LEFT JOIN device_credentials c USING (device_id)"
                " WHERE c.device_id IS NULL OR c.revoked_at IS NOT NULL ORDER BY 1"
            )
            targets = [str(r[0]) for r in await cur.fetchall()]
        else:
            cur = await conn.execute(
                "SELECT d.device_id, c.device_id IS NOT NULL AND c.revoked_at IS NULL"
                " FROM devices d LEFT JOIN device_credentials c USING (device_id)"
                " WHERE d.device_id = ANY(%s)",
                (list(device_ids),),
            )
            found = {str(r[0]): bool(r[1]) for r in await cur.fetchall()}
            for device_id in device_ids:
                if device_id not in found:
                    raise RegistryError(device_id, "not registered")
                if found[device_id] and not rotate:
                    raise RegistryError(
                        device_id, "already provisioned; use --rotate for a new secret"
                    )
            targets = list(dict.fromkeys(device_ids))
        issued = []
        for device_id in targets:
            check_device_username(device_id)
            secret = generate_secret()
            await conn.execute(
                "INSERT INTO device_credentials (device_id, secret_hash) VALUES (%s, %s)"
                " ON CONFLICT (device_id) DO UPDATE SET secret_hash = excluded.secret_hash,"
                " rotated_at = now(), revoked_at = NULL",
                (device_id, hash_secret(secret)),
            )
            issued.append((device_id, secret))
    return issued


async def revoke(conn: Conn, device_id: str) -> None:
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE device_credentials SET revoked_at = now()"
            " WHERE device_id = %s AND revoked_at IS NULL",
            (device_id,),
        )
        if cur.rowcount != 1:
            raise RegistryError(device_id, "has no active credential")


async def service_account(conn: Conn, username: str) -> str:
    """Create or rotate a service account; returns its new secret."""
    if not username.startswith(SERVICE_PREFIX):
        raise RegistryError(username, f"service accounts start with {SERVICE_PREFIX!r}")
    secret = generate_secret()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO service_accounts (username, secret_hash) VALUES (%s, %s)"
            " ON CONFLICT (username) DO UPDATE SET secret_hash = excluded.secret_hash,"
            " rotated_at = now()",
            (username, hash_secret(secret)),
        )
    return secret


async def active_accounts(conn: Conn) -> list[Account]:
    cur = await conn.execute(
        "SELECT device_id, secret_hash FROM device_credentials WHERE revoked_at IS NULL"
        " UNION ALL SELECT username, secret_hash FROM service_accounts"
    )
    return [Account(str(r[0]), str(r[1])) for r in await cur.fetchall()]


def write_broker_files(
    directory: Path,
    accounts: Sequence[Account],
    *,
    mode: int = 0o640,
    owner: tuple[int, int] | None = None,
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` atomically (a broker reload never sees half a file).

    ``mode`` 0640 suits a broker in the files' group; a broker running as another user (the
    Mosquitto image's uid 1883) needs ``owner`` set to it."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "passwd", directory / "acl"
    for path, text in zip(paths, (password_file(accounts), acl_file()), strict=True):
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        if owner is not None:  # e.g. 1883:1883, the uid Mosquitto's image reads files as
            os.chown(temporary, *owner)
        os.replace(temporary, path)
    return paths
