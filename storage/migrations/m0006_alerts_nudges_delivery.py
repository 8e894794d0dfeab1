"""Migration 6: alerts (rules, lifecycle, audit trail), subscriptions, delivery records, and
energy programmes with their nudges.

Personal data kept to the minimum: households are known by their pseudonymous id; the contact
details of a household (email, phone, postal address) stay in the council's own systems and are
read at send time from its contact directory (``delivery.contacts``). Only people who subscribe
to alerts themselves leave a contact here, in ``alert_subscriptions``, which the reader role
cannot read.
"""

from __future__ import annotations

_SQL = """
CREATE TABLE alert_rules (
    rule_id      text PRIMARY KEY CHECK (rule_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    kind         text NOT NULL CHECK (kind IN ('zone_daqi', 'bay_overstay', 'device_offline',
                                               'sensor_flagged')),
    zone_id      text REFERENCES zones ON DELETE CASCADE,
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    escalate_after_minutes integer CHECK (escalate_after_minutes > 0),
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    alert_id        bigserial PRIMARY KEY,
    rule_id         text NOT NULL REFERENCES alert_rules ON DELETE CASCADE,
    subject         text NOT NULL,
    zone_id         text,
    state           text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    level           text NOT NULL,
    value           double precision,
    message         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    below_since     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    escalated_at    timestamptz,
    resolved_at     timestamptz
);
-- One active alert per rule and subject: a condition that persists updates it, never a second.
CREATE UNIQUE INDEX alerts_one_active ON alerts (rule_id, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_zone_idx ON alerts (zone_id, opened_at);

CREATE TABLE alert_events (
    event_id  bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    action    text NOT NULL CHECK (action IN ('opened', 'updated', 'acknowledged', 'escalated',
                                              'resolved', 'notified')),
    actor     text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, at);

CREATE TABLE alert_subscriptions (
    subscription_id bigserial PRIMARY KEY,
    token           text NOT NULL UNIQUE,
    zone_id         text REFERENCES zones ON DELETE CASCADE,
    longitude       double precision CHECK (longitude BETWEEN -180 AND 180),
    latitude        double precision CHECK (latitude BETWEEN -90 AND 90),
    radius_m        double precision CHECK (radius_m > 0),
    kinds           text[] NOT NULL,
    min_level       text NOT NULL DEFAULT 'moderate',
    channels        jsonb NOT NULL,
    quiet_start     time,
    quiet_end       time,
    max_per_day     integer NOT NULL DEFAULT 4 CHECK (max_per_day > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    unsubscribed_at timestamptz,
    CHECK ((zone_id IS NOT NULL) <> (radius_m IS NOT NULL)),
    CHECK ((radius_m IS NULL) = (latitude IS NULL) AND (latitude IS NULL) = (longitude IS NULL))
);

CREATE TABLE energy_programmes (
    programme_id text PRIMARY KEY CHECK (programme_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    name         text NOT NULL,
    grain        text NOT NULL CHECK (grain IN ('week', 'month')),
    min_peers    integer NOT NULL DEFAULT 10 CHECK (min_peers > 0),
    target_peers integer NOT NULL DEFAULT 100 CHECK (target_peers > 0),
    trial        boolean NOT NULL DEFAULT false,
    starts_on    date,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE energy_assignments (
    programme_id text NOT NULL REFERENCES energy_programmes ON DELETE CASCADE,
    household_id text NOT NULL,
    arm          text NOT NULL CHECK (arm IN ('treatment', 'control')),
    stratum      text NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, household_id)
);

CREATE TABLE nudges (
    programme_id    text NOT NULL REFERENCES energy_programmes ON DELETE CASCADE,
    household_id    text NOT NULL,
    device_id       text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL CHECK (status IN ('ready', 'withheld')),
    rating          text CHECK (rating IN ('great', 'good', 'above_average')),
    usage_kwh       double precision,
    average_kwh     double precision,
    efficient_kwh   double precision,
    peers           integer,
    withheld_reason text,
    figures         jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (programme_id, household_id, period_start)
);
CREATE INDEX nudges_period_idx ON nudges (programme_id, period_start);

CREATE TABLE delivery_preferences (
    household_id    text PRIMARY KEY,
    token           text NOT NULL UNIQUE,
    channels        text[] NOT NULL DEFAULT '{email}',
    quiet_start     time,
    quiet_end       time,
    max_per_week    integer NOT NULL DEFAULT 2 CHECK (max_per_week > 0),
    unsubscribed_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- What was sent, to whom, by which channel: the audit trail, the frequency caps, and the
-- guarantee that a recipient receives a message once (the unique key). A row is written as
-- 'sending' before the attempt: a crash mid-send leaves it so, and it is reported, never sent
-- again (a second email would be worse than a missing one, which the audit shows).
CREATE TABLE deliveries (
    delivery_id  bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('nudge', 'alert')),
    message_key  text NOT NULL,
    recipient    text NOT NULL,
    channel      text NOT NULL,
    status       text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
    detail       text NOT NULL DEFAULT '',
    provider_ref text,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, message_key, recipient, channel)
);
CREATE INDEX deliveries_recipient_idx ON deliveries (recipient, attempted_at);
"""


def statements() -> list[str]:
    return [_SQL]
