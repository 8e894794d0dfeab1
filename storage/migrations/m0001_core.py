"""Migration 1: the device registry, status history and quarantine.

The per-type readings tables it used to create are made from the device type plugins by
``storage.schema`` (see ``storage.migrate``), with the same columns.
"""

from __future__ import annotations

_COMMON = """
CREATE TABLE devices (
    device_id   text PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    device_type text NOT NULL,
    name        text,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    zone        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_type_idx ON devices (device_type);

CREATE TABLE device_status (
    device_id text NOT NULL,
    ts        timestamptz NOT NULL,
    online    boolean NOT NULL,
    PRIMARY KEY (device_id, ts)
);

CREATE TABLE quarantine (
    id               bigserial PRIMARY KEY,
    received_at      timestamptz NOT NULL,
    last_received_at timestamptz NOT NULL,
    deliveries       integer NOT NULL DEFAULT 1,
    topic            text NOT NULL,
    device_id        text,
    item             integer NOT NULL DEFAULT -1,
    reason           text NOT NULL,
    detail           text NOT NULL,
    payload          bytea NOT NULL,
    payload_sha256   bytea NOT NULL,
    UNIQUE (topic, payload_sha256, item, reason)
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, received_at);
"""


def statements() -> list[str]:
    return [_COMMON]
