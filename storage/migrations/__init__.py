"""Versioned migrations of the platform's own tables. Each is applied once, in order, in its own
transaction; an applied migration is never edited.

The per-type readings tables and rollups are not here: ``storage.schema`` generates them from the
device type plugins, and ``storage.migrate`` creates or extends them at every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storage.connection import Mode
from storage.migrations import (
    m0001_core,
    m0002_rollups,
    m0003_registry,
    m0004_reader_role,
    m0005_quarantine_replay,
    m0006_alerts_nudges_delivery,
    m0007_api_keys,
    m0008_trials_and_link_tokens,
    m0009_grafana_role,
    m0010_device_health_rules,
    m0011_delivery_retries,
)


@dataclass(frozen=True, slots=True)
class Context:
    """What a migration may depend on."""

    mode: Mode


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: Callable[[Context], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables", lambda _c: m0001_core.statements()),
    Migration(2, "hourly and daily rollups", lambda _c: m0002_rollups.statements()),
    Migration(
        3,
        "device fleet: zones, attributes, consent, credentials",
        lambda _c: m0003_registry.statements(),
    ),
    Migration(4, "civicpulse_reader role, consent-safe", lambda _c: m0004_reader_role.statements()),
    Migration(5, "quarantine replay", lambda _c: m0005_quarantine_replay.statements()),
    Migration(
        6,
        "alerts, subscriptions, deliveries, energy programmes and nudges",
        lambda _c: m0006_alerts_nudges_delivery.statements(),
    ),
    Migration(7, "API keys", lambda _c: m0007_api_keys.statements()),
    Migration(
        8,
        "trial estimates, link tokens by digest",
        lambda _c: m0008_trials_and_link_tokens.statements(),
    ),
    Migration(9, "civicpulse_grafana role", lambda _c: m0009_grafana_role.statements()),
    Migration(10, "device-health rule kinds", lambda _c: m0010_device_health_rules.statements()),
    Migration(11, "delivery retries", lambda _c: m0011_delivery_retries.statements()),
)
