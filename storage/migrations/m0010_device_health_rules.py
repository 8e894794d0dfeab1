"""Migration 10: the device-health rule kinds beside ``device_offline``: ``low_battery``,
``data_gap`` and ``quarantine_rate`` (``alerts.health``)."""

from __future__ import annotations

_SQL = """
ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_kind_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_check
    CHECK (kind IN ('zone_daqi', 'bay_overstay', 'device_offline', 'sensor_flagged',
                    'low_battery', 'data_gap', 'quarantine_rate'));
"""


def statements() -> list[str]:
    return [_SQL]
