"""``civicpulse db migrate``: create or update the schema."""

from __future__ import annotations

import argparse
import asyncio

from civicpulse.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database tasks").add_subparsers(metavar="task")
    p = db.add_parser("migrate", help="create or update the schema (idempotent)")
    p.set_defaults(run=_migrate)


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from storage.migrate import Policies, migrate

    report = asyncio.run(
        migrate(
            settings.require_database_url(),
            timescaledb=settings.timescaledb,
            chunk_interval_days=settings.chunk_interval_days,
            policies=Policies(
                compress_after_days=settings.compress_after_days,
                raw_retention_days=settings.raw_retention_days,
                hourly_retention_days=settings.hourly_retention_days,
                daily_retention_days=settings.daily_retention_days,
            ),
        )
    )
    print(f"storage mode: {report.mode} ({report.reason})")
    applied = ", ".join(map(str, report.applied)) or "none (already up to date)"
    print(f"schema version {report.current}; applied now: {applied}")
    for line in report.changes:
        print(f"  {line}")
    for line in report.policies:
        print(f"  policy {line}")
    return 0
