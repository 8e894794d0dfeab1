"""Migration 3: the device fleet — weather readings, zones, device attributes and consent,
zone memberships, device credentials, last-seen state, and consent-filtered meter views."""

from __future__ import annotations

from civicpulse.db import Mode
from civicpulse.migrations.m0001_core import reading_table
from civicpulse.migrations.m0002_rollups import rollups

READING_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "weather_readings": (
        ("temperature_c", "double precision"),
        ("humidity_pct", "double precision"),
        ("wind_speed_ms", "double precision"),
        ("rainfall_mm", "double precision"),
        ("battery_pct", "double precision"),
        ("rssi_dbm", "double precision"),
    ),
}

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

# Smart-meter data at the granularity each household consented to (UK Data Access and Privacy
# Framework): monthly for every meter, daily with 'daily' or 'half_hourly' consent, sub-daily
# only with 'half_hourly'. Readers of meter data use these views, never the tables.
_CONSENT_VIEWS = """
CREATE VIEW smart_meter_readings_permitted AS
    SELECT r.* FROM smart_meter_readings r JOIN devices d USING (device_id)
    WHERE d.consent = 'half_hourly';
CREATE VIEW smart_meter_hourly_permitted AS
    SELECT r.* FROM smart_meter_hourly r JOIN devices d USING (device_id)
    WHERE d.consent = 'half_hourly';
CREATE VIEW smart_meter_daily_permitted AS
    SELECT r.* FROM smart_meter_daily r JOIN devices d USING (device_id)
    WHERE d.consent IN ('daily', 'half_hourly');
CREATE VIEW smart_meter_monthly_permitted AS
    SELECT date_trunc('month', r.bucket) AS month, r.device_id,
           sum(r.samples)::bigint AS samples,
           min(r.electricity_import_kwh_min) AS electricity_import_kwh_min,
           max(r.electricity_import_kwh_max) AS electricity_import_kwh_max,
           min(r.gas_m3_min) AS gas_m3_min,
           max(r.gas_m3_max) AS gas_m3_max
    FROM smart_meter_daily r JOIN devices d USING (device_id)
    WHERE d.consent IS NOT NULL
    GROUP BY 1, 2;
"""


def statements(mode: Mode, chunk_interval_days: int) -> list[str]:
    out = [_REGISTRY]
    for table, columns in READING_TABLES.items():
        out.extend(reading_table(mode, table, columns, chunk_interval_days))
        out.extend(rollups(mode, table.removesuffix("_readings"), table, columns))
    out.append(_CONSENT_VIEWS)
    return out
