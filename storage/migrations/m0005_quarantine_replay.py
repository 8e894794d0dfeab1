"""Migration 5: the quarantine remembers replays (``civicpulse quarantine replay``).

A replayed row is marked, never deleted, so the quarantine stays the audit trail of what was
refused and what became of it. ``reason`` and ``detail`` keep why the message was refused when it
arrived; ``replay_reason`` says why it is still refused today (``NULL`` once its readings are
stored). A row is pending while it was never replayed or is still refused.
"""

from __future__ import annotations

_REPLAY = """
ALTER TABLE quarantine
    ADD COLUMN replayed_at    timestamptz,
    ADD COLUMN replay_outcome text,
    ADD COLUMN replay_reason  text;

-- Replay walks the pending rows in id order. Once most rows are replayed, this index keeps the
-- walk proportional to what is left, not to the whole audit trail. (storage.quarantine's
-- predicate must stay this one for the planner to use it.)
CREATE INDEX quarantine_pending_idx ON quarantine (id)
    WHERE replayed_at IS NULL OR replay_reason IS NOT NULL;
-- `quarantine list --device` and the per-device summary.
CREATE INDEX quarantine_device_idx ON quarantine (device_id, received_at);
"""


def statements() -> list[str]:
    return [_REPLAY]
