"""Migration 11: a delivery that failed for a passing reason is tried again.

An SMTP server restarting or a webhook answering 503 must not cost a resident their alert or
their monthly report. A failed attempt that a later one may cure keeps its row (the audit shows
it) with ``retry_after``: from then on the next delivery of that message to that recipient by
that channel claims the row again, counting ``attempts``. A failure no retry can cure (an
address refused, a 400) has no ``retry_after`` and stays final, as before.
"""

from __future__ import annotations

_SQL = """
ALTER TABLE deliveries
    ADD COLUMN attempts    integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    ADD COLUMN retry_after timestamptz,
    ADD CONSTRAINT deliveries_retry_only_failed CHECK (retry_after IS NULL OR status = 'failed');
CREATE INDEX deliveries_retry_idx ON deliveries (retry_after) WHERE retry_after IS NOT NULL;
"""


def statements() -> list[str]:
    return [_SQL]
