"""Migration 7: API keys (``civicpulse api keys create|list|revoke``).

A key is shown once, when it is made; only its hash is kept (``sha256:<hex>`` of a 256-bit
random key: a slow password hash adds nothing against keys that cannot be guessed, and would cost
every request its time). A resident's key is bound to one household. Revoking keeps the row, so
that the audit of who could read what stays whole. The reader role never sees this table.
"""

from __future__ import annotations

_SQL = """
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scope        text NOT NULL CHECK (scope IN ('developer', 'officer', 'resident', 'admin')),
    household_id text CHECK (household_id ~ '^[A-Za-z0-9_-]{4,64}$'),
    hash         text NOT NULL UNIQUE CHECK (hash ~ '^sha256:[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    -- A resident's key reads one household's data; no other key is bound to a household.
    CHECK ((scope = 'resident') = (household_id IS NOT NULL))
);
"""


def statements() -> list[str]:
    return [_SQL]
