"""Database connections and the storage mode (TimescaleDB or plain PostgreSQL)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import psycopg

logger = logging.getLogger(__name__)


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


async def connect(
    url: str, *, autocommit: bool = False
) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """Open a connection with the session settings CivicPulse relies on (UTC, an app name)."""
    return await psycopg.AsyncConnection.connect(
        url, autocommit=autocommit, application_name="civicpulse", options="-c TimeZone=UTC"
    )


async def server_info(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> ServerInfo:
    """Versions of the server and of TimescaleDB (available to install / installed here)."""
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
