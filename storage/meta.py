"""Small platform state kept in ``civicpulse_meta``: JSON values under dotted keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from storage.connection import Conn
from storage.errors import storage_operation

T = TypeVar("T")


@storage_operation("read platform state")
async def get(conn: Conn, key: str) -> Any:
    """The value stored under ``key``, or ``None``."""
    cur = await conn.execute("SELECT value FROM civicpulse_meta WHERE key = %s", (key,))
    row = await cur.fetchone()
    return None if row is None else orjson.loads(str(row[0]))


@storage_operation("record platform state")
async def put(conn: Conn, key: str, value: Any) -> None:
    """Store ``value`` (JSON) under ``key``, replacing what was there; commits."""
    await conn.execute(
        "INSERT INTO civicpulse_meta (key, value) VALUES (%s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, orjson.dumps(value).decode()),
    )
    if not conn.autocommit:
        await conn.commit()


@storage_operation("update platform state")
async def update(conn: Conn, key: str, change: Callable[[Any], tuple[Any, T]]) -> T:
    """Read ``key``, store ``change(value)[0]`` and return ``change(value)[1]``, holding a lock
    on the key meanwhile: processes sharing the key never both act on the same old value."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
        cur = await conn.execute("SELECT value FROM civicpulse_meta WHERE key = %s", (key,))
        row = await cur.fetchone()
        new, result = change(None if row is None else orjson.loads(str(row[0])))
        await conn.execute(
            "INSERT INTO civicpulse_meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, orjson.dumps(new).decode()),
        )
    return result
