"""API keys in the database (psycopg adapter): made, found by hash, listed, revoked.

Only a key's hash is stored (``api.keys`` makes keys and hashes them); nothing here ever sees or
returns a key. The table is closed to the reader role: the API reaches it through its owner pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg.rows import dict_row

from storage.connection import Conn
from storage.errors import storage_operation

KeyScope = Literal["developer", "officer", "resident", "admin"]
KEY_SCOPES: tuple[KeyScope, ...] = ("developer", "officer", "resident", "admin")

_COLUMNS = "id, name, scope, household_id, created_at, last_used_at, revoked_at"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What is known about a key: never the key, nor its hash."""

    id: int
    name: str
    scope: KeyScope
    household_id: str | None
    """The one household a ``resident`` key reads; ``None`` for every other scope."""
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=int(row["id"]),
        name=str(row["name"]),
        scope=row["scope"],
        household_id=row["household_id"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


@storage_operation("create an API key")
async def create(
    conn: Conn, *, name: str, scope: KeyScope, key_hash: str, household_id: str | None = None
) -> ApiKey:
    """Record a new key by its hash; the caller shows the key itself once."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"INSERT INTO api_keys (name, scope, household_id, hash) VALUES (%s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (name, scope, household_id, key_hash),
        )
        row = await cur.fetchone()
    assert row is not None
    return _key(row)


@storage_operation("find an API key")
async def find(conn: Conn, key_hash: str) -> ApiKey | None:
    """The active (not revoked) key with this hash, or ``None``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE hash = %s AND revoked_at IS NULL", (key_hash,)
        )
        row = await cur.fetchone()
    return None if row is None else _key(row)


@storage_operation("list API keys")
async def list_keys(conn: Conn, *, include_revoked: bool = True) -> list[ApiKey]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE %s OR revoked_at IS NULL ORDER BY id",
            (include_revoked,),
        )
        return [_key(row) for row in await cur.fetchall()]


@storage_operation("revoke an API key")
async def revoke(conn: Conn, key_id: int) -> ApiKey | None:
    """Revoke a key at once; ``None`` when there is no such key. Revoking twice keeps the first
    time."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
            f" RETURNING {_COLUMNS}",
            (key_id,),
        )
        row = await cur.fetchone()
    return None if row is None else _key(row)


@storage_operation("record an API key's use")
async def touch(
    conn: Conn, key_id: int, *, at: datetime, resolution: timedelta = timedelta(minutes=1)
) -> bool:
    """Set ``last_used_at``, at most once per ``resolution``: a busy key costs one write a
    minute, not one a request. Returns whether the row was written."""
    cur = await conn.execute(
        "UPDATE api_keys SET last_used_at = %s WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at <= %s)",
        (at, key_id, at - resolution),
    )
    return cur.rowcount == 1
