"""psycopg's errors in the platform's terms: one :class:`StorageError` with the SQLSTATE, whether a
retry can help, and, where the user can act, what to do.

Every public function of ``storage`` raises these, never psycopg's classes, so callers (ingest's
retry loop, the command line, the API) decide by data, not by driver.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ParamSpec, TypeVar

import psycopg
import psycopg_pool

from civicpulse.errors import ConfigError, SchemaError, StorageError

P = ParamSpec("P")
T = TypeVar("T")

MIGRATE_HINT = "run `civicpulse db migrate`"

# SQLSTATE classes after which the same operation may succeed later.
_RETRYABLE_CLASSES = ("08", "40", "53", "57", "58")
# 57014 is a cancelled query (statement_timeout): retrying the same query is not the answer.
_NOT_RETRYABLE = ("57014",)
_UNDEFINED = ("42P01", "42703", "42883")  # undefined table, column, function


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def translate(
    error: psycopg.Error | psycopg_pool.PoolTimeout, operation: str
) -> StorageError | ConfigError:
    """The platform's error for a psycopg error raised while doing ``operation``."""
    if isinstance(error, psycopg_pool.PoolTimeout):
        return StorageError(operation, "no database connection became free in time", retryable=True)
    sqlstate = error.sqlstate
    detail = first_line(error)
    if sqlstate in _UNDEFINED:
        return SchemaError(operation, detail, sqlstate=sqlstate, hint=MIGRATE_HINT)
    if sqlstate in ("28P01", "28000", "3D000"):  # bad password or role, no such database
        return StorageError(
            operation,
            detail,
            sqlstate=sqlstate,
            hint="check CIVICPULSE_DATABASE_URL",
            user_fixable=True,
        )
    if sqlstate is None:
        # No server answer: a refused or lost connection, or a client-side problem.
        if isinstance(error, psycopg.OperationalError):
            return StorageError(operation, _connection_detail(detail), retryable=True)
        if isinstance(error, psycopg.ProgrammingError) and "dsn" in detail.lower():
            return ConfigError("CIVICPULSE_DATABASE_URL", f"not a valid database URL: {detail}")
        return StorageError(operation, detail)
    retryable = sqlstate[:2] in _RETRYABLE_CLASSES and sqlstate not in _NOT_RETRYABLE
    return StorageError(operation, detail, sqlstate=sqlstate, retryable=retryable)


def _connection_detail(detail: str) -> str:
    lowered = detail.lower()
    if "connection refused" in lowered:
        return f"cannot reach the database ({detail}); is it running, and is the URL's port right?"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return f"unknown database host ({detail}); check CIVICPULSE_DATABASE_URL"
    return f"database connection failed: {detail}"


@contextlib.asynccontextmanager
async def translated(operation: str) -> AsyncIterator[None]:
    """Raise :class:`StorageError` in place of psycopg's errors inside the block."""
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
        raise translate(error, operation) from error


def storage_operation(
    operation: str,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate a storage coroutine so that it raises :class:`StorageError`, never psycopg's."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            async with translated(operation):
                return await function(*args, **kwargs)

        return wrapper

    return decorate
