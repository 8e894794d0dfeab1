"""Credentials in the database, and Mosquitto's files written from them (adapter)."""

from __future__ import annotations

from collections.abc import Sequence

from civicpulse.errors import RegistryError
from devices.credentials import (
    SERVICE_PREFIX,
    Account,
    check_device_username,
    generate_secret,
    hash_secret,
)
from storage.connection import Conn
from storage.errors import storage_operation


@storage_operation("provision credentials")
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


@storage_operation("revoke a credential")
async def revoke(conn: Conn, device_id: str) -> None:
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE device_credentials SET revoked_at = now()"
            " WHERE device_id = %s AND revoked_at IS NULL",
            (device_id,),
        )
        if cur.rowcount == 1:
            return
        cur = await conn.execute(
            "SELECT d.device_id IS NOT NULL, c.revoked_at FROM (SELECT %s::text AS id) q"
            " LEFT JOIN devices d ON d.device_id = q.id"
            " LEFT JOIN device_credentials c ON c.device_id = q.id",
            (device_id,),
        )
        row = await cur.fetchone()
    registered, revoked_at = row if row is not None else (False, None)
    if not registered:
        raise RegistryError(device_id, "not registered")
    if revoked_at is not None:
        raise RegistryError(
            device_id,
            f"already revoked on {revoked_at:%Y-%m-%d %H:%M} UTC; nothing to do"
            " (`civicpulse devices provision` issues a new secret)",
        )
    raise RegistryError(device_id, "was never provisioned, so it has no credential to revoke")


@storage_operation("create a service account")
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


@storage_operation("read broker accounts")
async def active_accounts(conn: Conn) -> list[Account]:
    cur = await conn.execute(
        "SELECT device_id, secret_hash FROM device_credentials WHERE revoked_at IS NULL"
        " UNION ALL SELECT username, secret_hash FROM service_accounts"
    )
    return [Account(str(r[0]), str(r[1])) for r in await cur.fetchall()]
