"""The API's two pools: reads as the reader role, and a small one for the few writes.

Reads go through ``civicpulse_reader``, which sees smart meter data only through the consent
views and never credentials, quarantined payloads, subscribers' contacts or API keys: what the
API can leak is bounded by the database, not only by the code. The login role (the URL's user)
must be a member of it (``GRANT civicpulse_reader TO civicpulse_api``); a superuser may always
switch to it, which is how the tests run.

``storage.connection.open_pool`` has no ``configure=`` hook yet, so each read connection is
switched to the role the first time the API hands it out (connections are remembered weakly: one
the pool replaces is switched again). The same step sets ``statement_timeout``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator

from psycopg import sql

from civicpulse.errors import SchemaError, StorageError
from storage.connection import Conn, Pool, open_pool
from storage.errors import translated


class ReaderPool:
    """Connections that read as ``role``, with a statement timeout."""

    def __init__(self, pool: Pool, *, role: str, statement_timeout_ms: int) -> None:
        self.pool = pool
        self._role = role
        self._timeout = str(int(statement_timeout_ms))
        self._ready: weakref.WeakSet[Conn] = weakref.WeakSet()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        async with contextlib.AsyncExitStack() as stack:
            # Only taking the connection is this module's operation: errors of the queries run
            # on it are the storage functions' to name.
            async with translated("take a read connection"):
                conn = await stack.enter_async_context(self.pool.connection())
            if conn not in self._ready:
                await self._configure(conn)
            yield conn

    async def _configure(self, conn: Conn) -> None:
        try:
            async with translated(f"switch to the {self._role} role"):
                await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self._role)))
                await conn.execute(
                    "SELECT set_config('statement_timeout', %s, false)", (self._timeout,)
                )
        except StorageError as error:
            if error.sqlstate == "22023":  # the role does not exist: never migrated
                raise SchemaError(
                    error.operation,
                    error.detail,
                    sqlstate=error.sqlstate,
                    hint="run `civicpulse db migrate`",
                ) from error
            if error.sqlstate == "42501":  # not a member
                raise StorageError(
                    error.operation,
                    error.detail,
                    sqlstate=error.sqlstate,
                    hint=f"the API's login role must be a member: GRANT {self._role} TO <login>",
                    user_fixable=True,
                ) from error
            raise
        self._ready.add(conn)

    async def check(self) -> str:
        """The role reads run as (checked once at start, so a wrong setup fails at once)."""
        async with self.connection() as conn:
            cur = await conn.execute("SELECT current_user")
            row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    async def close(self) -> None:
        await self.pool.close()


async def open_reader(url: str, *, role: str, size: int, statement_timeout_ms: int) -> ReaderPool:
    pool = await open_pool(url, min_size=1, max_size=size, name="civicpulse-api-read")
    reader = ReaderPool(pool, role=role, statement_timeout_ms=statement_timeout_ms)
    try:
        await reader.check()
    except BaseException:
        await pool.close()
        raise
    return reader


async def open_writer(url: str, *, size: int) -> Pool:
    return await open_pool(url, min_size=1, max_size=size, name="civicpulse-api-write")


@contextlib.asynccontextmanager
async def writing(pool: Pool) -> AsyncIterator[Conn]:
    """A connection of the owner pool (autocommit)."""
    async with contextlib.AsyncExitStack() as stack:
        async with translated("take a write connection"):
            conn = await stack.enter_async_context(pool.connection())
        yield conn
