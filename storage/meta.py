"""Small platform state kept in ``civicpulse_meta``: JSON values under dotted keys."""

from __future__ import annotations

from typing import Any

import orjson

from storage.connection import Conn
from storage.errors import storage_operation


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
