"""Fleet health: which devices are silent, batteries, completeness, and the quarantine."""

from __future__ import annotations

from dashboards.model import Board, Panel, Row, Sql, Threshold
from dashboards.sql import DEVICE_TYPE, LIVENESS, ZONE, expected_intervals, in_zone, type_chosen

OFFLINE = f"""SELECT live.device_id AS device, live.device_type AS type,
  live.last_received_at AS last_heard,
  round((extract(epoch FROM now() - live.last_received_at) / 60)::numeric) AS silent_minutes,
  live.status_online = false AS said_offline
FROM ({LIVENESS}) live WHERE NOT live.online
ORDER BY live.last_received_at NULLS FIRST, live.device_id"""

BATTERY = f"""SELECT live.device_id AS device, live.device_type AS type,
  round(live.battery_pct::numeric, 1) AS battery_pct, live.last_received_at AS last_heard
FROM ({LIVENESS}) live WHERE live.battery_pct IS NOT NULL
ORDER BY live.battery_pct, live.device_id LIMIT 50"""

# Readings received over those expected from every registered device of the type in the range.
COMPLETENESS = f"""WITH devices AS (
  SELECT d.device_id, d.device_type FROM dashboard_devices d
  WHERE {type_chosen("d.device_type")} AND {in_zone("d")}
), received AS (
  SELECT s.device_type, sum(s.samples) AS samples FROM dashboard_samples_hourly s
  WHERE $__timeFilter(s.bucket) AND s.device_id IN (SELECT device_id FROM devices)
  GROUP BY 1
)
SELECT d.device_type AS type, count(*) AS devices, coalesce(max(r.samples), 0) AS readings,
  round(least(100, 100 * coalesce(max(r.samples), 0) / (count(*) * extract(epoch FROM
    $__timeTo()::timestamptz - $__timeFrom()::timestamptz) / max(expected.interval_s)))::numeric,
    1) AS completeness_pct
FROM devices d JOIN {expected_intervals()} USING (device_type)
LEFT JOIN received r ON r.device_type = d.device_type
GROUP BY d.device_type ORDER BY d.device_type"""

QUARANTINE_FILTER = (
    f"$__timeFilter(q.received_at) AND {type_chosen('q.device_type')} AND {in_zone('q')}"
)
QUARANTINE_SERIES = f"""SELECT $__timeGroupAlias(q.received_at, $__interval), q.reason AS metric,
  count(*) AS messages
FROM dashboard_quarantine q WHERE {QUARANTINE_FILTER}
GROUP BY 1, 2 ORDER BY 1, 2"""

QUARANTINE_TABLE = f"""SELECT q.reason, coalesce(q.device_type, '(unknown device)') AS type,
  count(*) AS messages, count(DISTINCT q.device_id) AS devices,
  count(*) FILTER (WHERE q.replayed_at IS NULL OR q.replay_reason IS NOT NULL) AS pending,
  max(q.last_received_at) AS last_seen
FROM dashboard_quarantine q WHERE {QUARANTINE_FILTER}
GROUP BY 1, 2 ORDER BY messages DESC, 1, 2"""


def board() -> Board:
    return Board(
        uid="civicpulse-fleet",
        title="CivicPulse · Fleet health",
        description="Devices that are silent, batteries running down, readings that did not"
        " arrive, and messages the platform refused.",
        source="dashboards/fleet.py",
        variables=(ZONE, DEVICE_TYPE),
        items=(
            Row("Liveness"),
            Panel(
                "Devices",
                "stat",
                (
                    Sql(
                        f"SELECT count(*) FILTER (WHERE online) AS online,"
                        f" count(*) FILTER (WHERE NOT online) AS offline, count(*) AS devices"
                        f" FROM ({LIVENESS}) live",
                        ("online", "offline", "devices"),
                    ),
                ),
                width=6,
            ),
            Panel(
                "Offline devices",
                "table",
                (
                    Sql(
                        OFFLINE,
                        ("device", "type", "last_heard", "silent_minutes", "said_offline"),
                        rows="any",
                    ),
                ),
                description="Not heard from within two reporting intervals, or offline by"
                " their last will. None is right when the whole fleet reports.",
                width=18,
            ),
            Row("Batteries and completeness"),
            Panel(
                "Lowest batteries",
                "table",
                (Sql(BATTERY, ("device", "type", "battery_pct", "last_heard")),),
                thresholds=(
                    Threshold(None, "red"),
                    Threshold(20, "orange"),
                    Threshold(40, "green"),
                ),
                colour_cells=True,
            ),
            Panel(
                "Completeness by type",
                "bargauge",
                (Sql(COMPLETENESS, ("type", "devices", "readings", "completeness_pct")),),
                description="Readings stored over those expected from every registered device"
                " of the type at its reporting interval, in the time range.",
                unit="percent",
                min=0,
                max=100,
                thresholds=(
                    Threshold(None, "red"),
                    Threshold(80, "orange"),
                    Threshold(90, "green"),
                ),
            ),
            Row("Quarantine"),
            Panel(
                "Quarantine by reason",
                "timeseries",
                (
                    Sql(
                        QUARANTINE_SERIES,
                        ("time", "metric", "messages"),
                        "time_series",
                        interval="5m",
                    ),
                ),
                description="Messages or batch items refused, by reason (`civicpulse"
                " quarantine list` shows them).",
            ),
            Panel(
                "Quarantine by reason and type",
                "table",
                (
                    Sql(
                        QUARANTINE_TABLE,
                        ("reason", "type", "messages", "devices", "pending", "last_seen"),
                    ),
                ),
                description="Pending: never replayed, or still refused at the last replay.",
            ),
        ),
    )
