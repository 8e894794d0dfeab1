"""SQL pieces the dashboards share: filters by the template variables, liveness, and the DAQI.

Every piece reads the same relations in both storage modes: ``<type>_hourly`` is a continuous
aggregate on TimescaleDB and a rollup view on plain PostgreSQL, with the same columns. Where a
panel buckets by time it uses ``$__timeGroup``, which Grafana turns into ``time_bucket`` when the
data source's TimescaleDB option is on.
"""

from __future__ import annotations

import math

from analytics.air_quality import BREAKPOINTS
from analytics.air_quality.daqi_levels import COLOURS
from analytics.air_quality.pollutants import POLLUTANTS, Pollutant
from dashboards.model import ALL, Threshold, Variable
from devices.types import AIR_QUALITY, DEVICE_TYPES

ZONE = Variable(
    "zone", "Zone", "SELECT zone_id AS __value, name AS __text FROM zones ORDER BY name"
)
WARD = Variable(
    "zone",
    "Ward",
    "SELECT zone_id AS __value, name AS __text FROM zones WHERE kind = 'ward' ORDER BY name",
)
DEVICE_TYPE = Variable(
    "device_type", "Device type", "SELECT DISTINCT device_type FROM dashboard_devices ORDER BY 1"
)
LONDON = "Europe/London"


def in_zone(alias: str) -> str:
    """The device ``alias.device_id`` is in a chosen zone (or All is chosen)."""
    return (
        f"({ALL} IN ($zone) OR EXISTS (SELECT 1 FROM device_zones dz"
        f" WHERE dz.device_id = {alias}.device_id AND dz.zone_id IN ($zone)))"
    )


def zone_chosen(column: str) -> str:
    return f"({ALL} IN ($zone) OR {column} IN ($zone))"


def type_chosen(column: str) -> str:
    return f"({ALL} IN ($device_type) OR {column} IN ($device_type))"


def expected_intervals() -> str:
    """``(device_type, interval_s)`` rows of every plugin, as a VALUES list."""
    rows = ", ".join(f"('{t.name}', {t.expected_interval_s})" for t in DEVICE_TYPES.values())
    return f"(VALUES {rows}) AS expected(device_type, interval_s)"


# Liveness as devices.health judges it: heard from within two reporting intervals, and not
# offline by its last will. One row per registered device the variables select.
LIVENESS = f"""SELECT d.device_id, d.device_type, d.latitude, d.longitude, l.last_received_at,
  l.battery_pct, s.online AS status_online,
  l.last_received_at IS NOT NULL
    AND l.last_received_at > now() - make_interval(secs => 2 * expected.interval_s)
    AND coalesce(s.online, true) AS online
FROM dashboard_devices d JOIN {expected_intervals()} USING (device_type)
LEFT JOIN device_last_seen l ON l.device_id = d.device_id
LEFT JOIN LATERAL (SELECT st.online FROM device_status st WHERE st.device_id = d.device_id
  ORDER BY st.ts DESC LIMIT 1) s ON true
WHERE {type_chosen("d.device_type")} AND {in_zone("d")}"""


def capture(interval_s: int, period_s: int = 3600) -> int:
    """Readings that make a valid period mean: 75 % of those expected (as analytics does)."""
    return max(1, math.ceil(0.75 * period_s / interval_s - 1e-9))


HOUR_CAPTURE = capture(AIR_QUALITY.expected_interval_s)
QUARTER_CAPTURE = capture(AIR_QUALITY.expected_interval_s, 900)


def daqi_index(pollutant: Pollutant, expression: str) -> str:
    """SQL for the DAQI (1-10) of a concentration already averaged over the pollutant's period,
    as ``analytics.air_quality.daqi_index`` computes it: rounded half up once, clamped at 0,
    then looked up (``width_bucket`` counts the bands' upper bounds below the value)."""
    lower_bounds = ", ".join(str(upper + 1) for upper in BREAKPOINTS[pollutant])
    return (
        f"(CASE WHEN {expression} IS NOT NULL THEN 1 + width_bucket("
        f"round(greatest({expression}, 0)::numeric), ARRAY[{lower_bounds}]::numeric[]) END)"
    )


def daqi_thresholds(pollutant: Pollutant) -> tuple[Threshold, ...]:
    """Band boundaries of a pollutant's averaged concentration, in UK-AIR's colours: Moderate
    from index 4, High from 7, Very High at 10."""
    bounds = BREAKPOINTS[pollutant]
    return (
        Threshold(None, COLOURS[1]),
        Threshold(bounds[2] + 1, COLOURS[4]),
        Threshold(bounds[5] + 1, COLOURS[7]),
        Threshold(bounds[8] + 1, COLOURS[9]),
    )


INDEX_THRESHOLDS = (
    Threshold(None, COLOURS[1]),
    Threshold(4, COLOURS[4]),
    Threshold(7, COLOURS[7]),
    Threshold(10, COLOURS[9]),
)


def daqi_concentrations(start: str, end: str) -> str:
    """CTEs ending in ``daqi``: each monitor's concentrations per hour ``[start, end]`` on the
    DAQI's averaging periods (``analytics.air_quality.daqi_monitor``), with its capture rules:

    - NO2: the hour's mean (at least 75 % of its readings);
    - O3: the running 8-hour mean of valid hourly means (at least 6 of 8);
    - PM2.5, PM10: the running 24-hour mean of valid hourly means (at least 18 of 24);
    - SO2: the highest 15-minute mean of the hour (each with 75 % of its readings).

    Before QC: the alert service leaves out readings that quality control flags, so its index
    can be lower where a sensor is faulty (the flagged-readings panel names those monitors).
    """
    hourly = ",\n    ".join(
        f"CASE WHEN h.{p}_n >= {HOUR_CAPTURE} THEN h.{p}_avg END AS {p}"
        for p in POLLUTANTS
        if p != "so2"
    )
    return f"""hours AS (
  SELECT h.device_id, h.bucket,
    {hourly}
  FROM air_quality_hourly h
  WHERE h.bucket > ({start})::timestamptz - INTERVAL '24 hours' AND h.bucket <= ({end})::timestamptz
    AND {in_zone("h")}
), quarters AS (
  SELECT q.device_id, q.hour, max(q.mean) AS so2 FROM (
    SELECT r.device_id, date_trunc('hour', r.ts) AS hour, avg(r.so2) AS mean
    FROM air_quality_readings r
    WHERE r.ts >= date_trunc('hour', ({start})::timestamptz) AND r.ts <= ({end})::timestamptz
      AND r.so2 IS NOT NULL AND {in_zone("r")}
    GROUP BY r.device_id, date_trunc('hour', r.ts), floor(extract(epoch FROM r.ts) / 900)
    HAVING count(*) >= {QUARTER_CAPTURE}) q
  GROUP BY q.device_id, q.hour
), daqi AS (
  SELECT h.device_id, h.bucket, h.no2, q.so2,
    CASE WHEN count(h.o3) OVER w8 >= 6 THEN avg(h.o3) OVER w8 END AS o3,
    CASE WHEN count(h.pm25) OVER w24 >= 18 THEN avg(h.pm25) OVER w24 END AS pm25,
    CASE WHEN count(h.pm10) OVER w24 >= 18 THEN avg(h.pm10) OVER w24 END AS pm10
  FROM hours h LEFT JOIN quarters q ON q.device_id = h.device_id AND q.hour = h.bucket
  WINDOW w8 AS (PARTITION BY h.device_id ORDER BY h.bucket
                RANGE BETWEEN INTERVAL '7 hours' PRECEDING AND CURRENT ROW),
         w24 AS (PARTITION BY h.device_id ORDER BY h.bucket
                 RANGE BETWEEN INTERVAL '23 hours' PRECEDING AND CURRENT ROW)
)"""


def monitor_index(alias: str) -> str:
    """A monitor's DAQI from its ``daqi`` row: the highest sub-index (NULL with none)."""
    return "greatest(" + ", ".join(daqi_index(p, f"{alias}.{p}") for p in POLLUTANTS) + ")"
