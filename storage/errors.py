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
# Lock not available, object in use: TimescaleDB refuses a refresh while another one runs.
_RETRYABLE_STATES = ("55P03", "55006")
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
            return _connection_error(operation, detail)
        if isinstance(error, psycopg.ProgrammingError) and "dsn" in detail.lower():
            return ConfigError("CIVICPULSE_DATABASE_URL", f"not a valid database URL: {detail}")
        return StorageError(operation, detail)
    retryable = (
        sqlstate[:2] in _RETRYABLE_CLASSES and sqlstate not in _NOT_RETRYABLE
    ) or sqlstate in _RETRYABLE_STATES
    return StorageError(operation, detail, sqlstate=sqlstate, retryable=retryable)


def _connection_error(operation: str, detail: str) -> StorageError:
    """A failed connection, told apart by libpq's words (it gives no SQLSTATE while connecting):
    a wrong URL is the user's to fix; a server that is down may come back."""
    lowered = detail.lower()
    hint = "check CIVICPULSE_DATABASE_URL"
    if "connection refused" in lowered:
        return StorageError(
            operation,
            f"cannot reach the database ({detail.removeprefix('connection failed: ')});"
            " is it running, and is the URL's port right?",
            retryable=True,
        )
    if "resolve host" in lowered or "translate host name" in lowered:
        return StorageError(
            operation, f"unknown database host: {detail}", hint=hint, user_fixable=True
        )
    if "does not exist" in lowered or "authentication failed" in lowered:
        fatal = detail.split("FATAL:", 1)[-1].strip()
        return StorageError(operation, fatal, hint=hint, user_fixable=True)
    return StorageError(operation, f"database connection failed: {detail}", retryable=True)


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
