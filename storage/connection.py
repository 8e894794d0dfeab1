"""Database connections, the pool, and the storage mode (TimescaleDB or plain PostgreSQL).

Every connection CivicPulse opens goes through :func:`connect` or :func:`open_pool`, which set
the session up alike (UTC, an application name) and raise the platform's errors, not psycopg's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

import psycopg
import psycopg_pool

from storage.errors import translate, translated

logger = logging.getLogger(__name__)

Conn: TypeAlias = psycopg.AsyncConnection[tuple[object, ...]]
Pool: TypeAlias = psycopg_pool.AsyncConnectionPool[Conn]
_APP = "civicpulse"
_OPTIONS = "-c TimeZone=UTC"


class Mode(StrEnum):
    """How CivicPulse stores time series in this database."""

    TIMESCALEDB = "timescaledb"
    POSTGRES = "postgres"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``doctor`` and the migrator learn about a database server."""

    server_version: str
    server_version_num: int
    timescaledb_available: str | None
    timescaledb_installed: str | None
    mode: Mode | None
    """The mode recorded by ``db migrate``; ``None`` before the first migration."""


async def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10) -> Conn:
    """Open a connection with the session settings CivicPulse relies on (UTC, an app name)."""
    try:
        return await psycopg.AsyncConnection.connect(
            url,
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            application_name=_APP,
            options=_OPTIONS,
        )
    except psycopg.Error as error:
        raise translate(error, "connect to the database") from error


async def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    wait_s: float = 10.0,
    name: str = "civicpulse",
) -> Pool:
    """An open connection pool (for the API and long-running services); close it when done.

    It waits for its first connection, so that a wrong URL fails here, once, with a clear error
    instead of at the first request.
    """
    pool: Pool = psycopg_pool.AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"application_name": _APP, "options": _OPTIONS, "autocommit": True},
        open=False,
        timeout=wait_s,
        name=name,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
    )
    try:
        await pool.open(wait=True, timeout=wait_s)
    except psycopg_pool.PoolTimeout:
        await pool.close()
        # Say why: one direct attempt gives the server's own reason.
        async with await connect(url, connect_timeout=int(wait_s)):
            pass
        raise translate(psycopg_pool.PoolTimeout("no connection in time"), "open a pool") from None
    return pool


async def server_info(conn: Conn) -> ServerInfo:
    """Versions of the server and of TimescaleDB (available to install / installed here)."""
    async with translated("read the server's versions"):
        return await _server_info(conn)


async def _server_info(conn: Conn) -> ServerInfo:
    cur = await conn.execute(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
        " (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'),"
        " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
        " to_regclass('civicpulse_meta') IS NOT NULL"
    )
    row = await cur.fetchone()
    assert row is not None
    version, version_num, available, installed, has_meta = row
    mode: Mode | None = None
    if has_meta:
        cur = await conn.execute("SELECT value FROM civicpulse_meta WHERE key = 'mode'")
        found = await cur.fetchone()
        mode = Mode(str(found[0])) if found else None
    await conn.rollback()
    return ServerInfo(
        str(version),
        int(str(version_num)),
        None if available is None else str(available),
        None if installed is None else str(installed),
        mode,
    )
