"""Migration 4: ``civicpulse_reader``, the role every reader of the database uses (dashboards,
analytics, the API). It cannot see raw or sub-consent meter data, credentials or quarantined
payloads: meter data reaches it only through the ``smart_meter_*_permitted`` views, so the
household consent rules hold for every reader, not only for code that remembers them."""

from __future__ import annotations

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
    # Its grants are made by storage.migrate after every migration, from the plugins.
    return [_ROLE, "GRANT USAGE ON SCHEMA public TO civicpulse_reader"]
