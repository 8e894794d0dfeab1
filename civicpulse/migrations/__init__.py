"""Versioned schema migrations. Each is applied once, in order, in its own transaction.

A migration yields SQL for the storage mode chosen at the first run (TimescaleDB or plain
PostgreSQL). Migrations pin their own column lists: changing a device type plugin later needs a
new migration, never an edit of an applied one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from civicpulse.db import Mode
from civicpulse.migrations import m0001_core, m0002_rollups, m0003_registry, m0004_reader_role


@dataclass(frozen=True, slots=True)
class Context:
    """What a migration may depend on besides the mode."""

    mode: Mode
    chunk_interval_days: int


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: Callable[[Context], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables", lambda c: m0001_core.statements(c.mode, c.chunk_interval_days)),
    Migration(2, "hourly and daily rollups", lambda c: m0002_rollups.statements(c.mode)),
    Migration(
        3,
        "device fleet: zones, attributes, consent, credentials, weather",
        lambda c: m0003_registry.statements(c.mode, c.chunk_interval_days),
    ),
    Migration(4, "civicpulse_reader role, consent-safe", lambda _c: m0004_reader_role.statements()),
)

READING_TABLES: tuple[str, ...] = (*m0001_core.READING_TABLES, *m0003_registry.READING_TABLES)
"""Every per-type readings table, whichever migration made it (each has hourly/daily rollups)."""
