"""Ingest: MQTT to PostgreSQL/TimescaleDB, acknowledged only after commit."""
