"""Migration 8: stored trial estimates, and look-ups of message links' tokens by digest.

``civicpulse analytics trial estimate`` saves what it estimated, so that the API serves trial
results without computing them: one row per estimate (a programme, its pre and post periods) and
one per effect (the programme's, and each zone's), replaced when the same estimate is run again.
They are aggregates over the trial's arms; the reader role may read them (the API shows them to
officers, and withholds zones with too few households in an arm).

The tokens in the links of households' reports and of alert emails are looked up through an index
on their SHA-256 digest: the database then compares digests, not the token a visitor typed, so how
long a look-up takes says nothing about how much of a guess was right.
"""

from __future__ import annotations

_SQL = """
CREATE TABLE trial_estimates (
    programme_id text NOT NULL REFERENCES energy_programmes ON DELETE CASCADE,
    pre_start    date NOT NULL,
    pre_end      date NOT NULL,
    post_start   date NOT NULL,
    post_end     date NOT NULL,
    households   integer NOT NULL CHECK (households >= 0),
    estimated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, pre_start, post_start),
    CHECK (pre_start < pre_end AND pre_end <= post_start AND post_start < post_end)
);

CREATE TABLE trial_effects (
    programme_id  text NOT NULL,
    pre_start     date NOT NULL,
    post_start    date NOT NULL,
    area          text NOT NULL,
    -- NULL effect: too few households in an arm to estimate one.
    relative      double precision,
    relative_low  double precision,
    relative_high double precision,
    absolute      double precision,
    absolute_low  double precision,
    absolute_high double precision,
    p_value       double precision CHECK (p_value BETWEEN 0 AND 1),
    treated       integer CHECK (treated >= 0),
    control       integer CHECK (control >= 0),
    excluded      integer CHECK (excluded >= 0),
    confidence    double precision CHECK (confidence > 0 AND confidence < 1),
    PRIMARY KEY (programme_id, pre_start, post_start, area),
    FOREIGN KEY (programme_id, pre_start, post_start)
        REFERENCES trial_estimates ON DELETE CASCADE
);

CREATE INDEX delivery_preferences_token_digest ON delivery_preferences (sha256(token::bytea));
CREATE INDEX alert_subscriptions_token_digest ON alert_subscriptions (sha256(token::bytea));
"""


def statements() -> list[str]:
    return [_SQL]
