"""Migration 9: ``civicpulse_grafana``, the role Grafana's data source logs in as.

Its grants and the aggregate views it reads are made by ``storage.migrate`` after every
migration (``storage.dashboard_views``). Created without LOGIN, like the reader: the operator
gives it a password once (docs/dashboards.md). Whoever logs in as it gets read-only transactions
and a statement timeout, so a heavy panel cannot hold the database: Grafana re-runs every panel
on each refresh, for every officer who has the dashboard open.
"""

from __future__ import annotations

_ROLE = """
DO $$
BEGIN
    CREATE ROLE civicpulse_grafana NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are per server: another database (or a concurrent migration) made it
END
$$;
"""


def statements() -> list[str]:
    return [
        _ROLE,
        "GRANT USAGE ON SCHEMA public TO civicpulse_grafana",
        "ALTER ROLE civicpulse_grafana SET default_transaction_read_only = on",
        "ALTER ROLE civicpulse_grafana SET statement_timeout = '30s'",
    ]
