"""Migration 1: the device registry, per-type readings, status history and quarantine."""

from __future__ import annotations

from civicpulse.db import Mode

# Pinned at the time of writing; later field additions come as new migrations.
READING_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "air_quality_readings": (
        ("pm25", "double precision"),
        ("pm10", "double precision"),
        ("no2", "double precision"),
        ("o3", "double precision"),
        ("so2", "double precision"),
        ("temperature_c", "double precision"),
        ("humidity_pct", "double precision"),
        ("battery_pct", "double precision"),
        ("rssi_dbm", "double precision"),
    ),
    "parking_bay_readings": (
        ("occupied", "boolean"),
        ("battery_pct", "double precision"),
        ("rssi_dbm", "double precision"),
    ),
    "smart_meter_readings": (
        ("electricity_import_kwh", "double precision"),
        ("gas_m3", "double precision"),
        ("power_w", "double precision"),
        ("battery_pct", "double precision"),
        ("rssi_dbm", "double precision"),
    ),
}

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


def statements(mode: Mode, chunk_interval_days: int) -> list[str]:
    out = [_COMMON]
    for table, columns in READING_TABLES.items():
        out.extend(reading_table(mode, table, columns, chunk_interval_days))
    return out


def reading_table(
    mode: Mode, table: str, columns: tuple[tuple[str, str], ...], chunk_interval_days: int
) -> list[str]:
    """DDL of one per-type readings table, keyed by the natural key ``(device_id, ts)``."""
    cols = ",\n    ".join(f"{name} {sqltype}" for name, sqltype in columns)
    out = [
        f"CREATE TABLE {table} (\n"
        "    device_id   text NOT NULL,\n"
        "    ts          timestamptz NOT NULL,\n"
        "    seq         bigint,\n"
        "    received_at timestamptz NOT NULL,\n"
        f"    {cols},\n"
        "    PRIMARY KEY (device_id, ts)\n"
        ")"
    ]
    if mode is Mode.TIMESCALEDB:
        # create_hypertable adds the (ts DESC) index itself.
        out.append(
            f"SELECT create_hypertable('{table}', by_range('ts', "
            f"INTERVAL '{int(chunk_interval_days)} days'))"
        )
    else:
        # BRIN stays tiny and suits append-mostly time-range scans over the whole fleet;
        # the primary key serves per-device ranges.
        out.append(f"CREATE INDEX {table}_ts_brin ON {table} USING brin (ts)")
    return out
