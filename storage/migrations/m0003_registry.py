"""Migration 3: the device fleet — zones, device attributes and consent, zone memberships,
device credentials and last-seen state. (The weather type's tables and the consent views it used
to create are made from the plugins by ``storage.schema``.)"""

from __future__ import annotations

_REGISTRY = """
CREATE TABLE zones (
    zone_id    text PRIMARY KEY CHECK (zone_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    kind       text NOT NULL CHECK (kind IN ('ward', 'parking_zone', 'aqma', 'other')),
    name       text NOT NULL,
    geometry   jsonb,
    min_lon    double precision, min_lat double precision,
    max_lon    double precision, max_lat double precision,
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE devices
    ADD COLUMN vendor           text,
    ADD COLUMN model            text,
    ADD COLUMN firmware_version text,
    ADD COLUMN installed_on     date,
    ADD COLUMN attributes       jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN consent          text CHECK (consent IN ('monthly', 'daily', 'half_hourly')),
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

CREATE TABLE device_zones (
    device_id text NOT NULL REFERENCES devices ON DELETE CASCADE,
    zone_id   text NOT NULL REFERENCES zones ON DELETE CASCADE,
    source    text NOT NULL CHECK (source IN ('geometry', 'explicit')),
    PRIMARY KEY (device_id, zone_id)
);
CREATE INDEX device_zones_zone_idx ON device_zones (zone_id);

-- The free-text zone of migration 1 becomes an explicit membership of a zone of kind 'other'.
INSERT INTO zones (zone_id, kind, name)
    SELECT DISTINCT zone, 'other', zone FROM devices WHERE zone IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO device_zones (device_id, zone_id, source)
    SELECT device_id, zone, 'explicit' FROM devices WHERE zone IS NOT NULL;
ALTER TABLE devices DROP COLUMN zone;

-- Only a hash of each device's secret is kept (the Mosquitto PBKDF2-SHA512 format).
CREATE TABLE device_credentials (
    device_id   text PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz,
    revoked_at  timestamptz
);

-- Broker accounts of platform services (ingest, …); same hash format, least privilege in the ACL.
CREATE TABLE service_accounts (
    username    text PRIMARY KEY CHECK (username ~ '^svc-[a-z0-9-]{1,40}$'),
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);

-- Maintained by ingest in the write transaction: liveness must not scan the readings.
CREATE TABLE device_last_seen (
    device_id           text PRIMARY KEY,
    last_received_at    timestamptz,
    last_ts             timestamptz,
    last_seq            bigint,
    battery_pct         double precision,
    rssi_dbm            double precision,
    readings            bigint NOT NULL DEFAULT 0,
    last_quarantined_at timestamptz,
    quarantined         bigint NOT NULL DEFAULT 0
);
"""


def statements() -> list[str]:
    return [_REGISTRY]
