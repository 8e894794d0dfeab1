"""Migration 4: ``civicpulse_reader``, the role every reader of the database uses (dashboards,
analytics, the API). It cannot see raw or sub-consent meter data, credentials or quarantined
payloads: meter data reaches it only through the ``smart_meter_*_permitted`` views, so the
household consent rules hold for every reader, not only for code that remembers them."""

from __future__ import annotations

# Relations the reader must never read directly.
RESTRICTED = (
    "smart_meter_readings",
    "smart_meter_hourly",
    "smart_meter_daily",
    "smart_meter_hourly_rollup",
    "smart_meter_daily_rollup",
    "device_credentials",
    "service_accounts",
    "quarantine",
)

_ROLE = """
DO $$
BEGIN
    CREATE ROLE civicpulse_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are per server: another database (or a concurrent migration) made it
END
$$;
"""


def statements() -> list[str]:
    restricted = ", ".join(f"'{name}'" for name in RESTRICTED)
    return [
        _ROLE,
        "GRANT USAGE ON SCHEMA public TO civicpulse_reader",
        # Every table and view (continuous aggregates included) except the restricted ones.
        f"""
DO $$
DECLARE
    relation record;
BEGIN
    FOR relation IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
          AND c.relname NOT IN ({restricted})
    LOOP
        EXECUTE format('GRANT SELECT ON %I TO civicpulse_reader', relation.relname);
    END LOOP;
END
$$;
""",
    ]
