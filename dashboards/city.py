"""City overview: is the platform hearing its devices, what is open, and the city now."""

from __future__ import annotations

from dashboards.model import Board, Panel, Row, Sql, Threshold
from dashboards.sql import (
    DEVICE_TYPE,
    INDEX_THRESHOLDS,
    LIVENESS,
    ZONE,
    daqi_concentrations,
    monitor_index,
    zone_chosen,
)

ZONE_DAQI = f"""WITH {daqi_concentrations("now() - INTERVAL '1 hour'", "now()")},
latest AS (
  SELECT DISTINCT ON (device_id) device_id, bucket, {monitor_index("daqi")} AS daqi
  FROM daqi WHERE bucket < date_trunc('hour', now())
  ORDER BY device_id, bucket DESC
)
SELECT z.name AS zone, coalesce((z.min_lat + z.max_lat) / 2, avg(d.latitude)) AS latitude,
  coalesce((z.min_lon + z.max_lon) / 2, avg(d.longitude)) AS longitude,
  max(l.daqi) AS daqi, count(l.daqi) AS monitors
FROM latest l JOIN device_zones m ON m.device_id = l.device_id
JOIN zones z ON z.zone_id = m.zone_id JOIN dashboard_devices d ON d.device_id = l.device_id
WHERE {zone_chosen("z.zone_id")}
GROUP BY z.zone_id, z.name, z.min_lat, z.max_lat, z.min_lon, z.max_lon
ORDER BY zone"""

# A bay's state is its newest reading (sent on every change and as a heartbeat).
BAYS_NOW = """SELECT b.device_id, b.latitude, b.longitude, r.occupied, r.ts
FROM dashboard_devices b
CROSS JOIN LATERAL (SELECT x.occupied, x.ts FROM parking_bay_readings x
  WHERE x.device_id = b.device_id AND x.occupied IS NOT NULL
  ORDER BY x.ts DESC LIMIT 1) r
WHERE b.device_type = 'parking_bay'"""

PARKING_NOW = f"""WITH bays AS ({BAYS_NOW})
SELECT z.name AS zone, coalesce((z.min_lat + z.max_lat) / 2, avg(b.latitude)) AS latitude,
  coalesce((z.min_lon + z.max_lon) / 2, avg(b.longitude)) AS longitude,
  count(*) FILTER (WHERE NOT b.occupied) AS free, count(*) AS bays,
  round(100.0 * count(*) FILTER (WHERE NOT b.occupied) / count(*), 1) AS free_pct
FROM bays b JOIN device_zones m ON m.device_id = b.device_id
JOIN zones z ON z.zone_id = m.zone_id AND z.kind = 'parking_zone'
WHERE {zone_chosen("z.zone_id")}
GROUP BY z.zone_id, z.name, z.min_lat, z.max_lat, z.min_lon, z.max_lon
ORDER BY zone"""

# Today (UTC hours) against the mean of the same hours on the four previous same weekdays, over
# the households whose consent allows hourly data; hours with too few of them are withheld.
ENERGY_TODAY = """SELECT h.bucket AS "time", h.kwh AS today,
  (SELECT avg(p.kwh) FROM dashboard_energy_city_hourly p
   WHERE p.bucket IN (h.bucket - INTERVAL '7 days', h.bucket - INTERVAL '14 days',
                      h.bucket - INTERVAL '21 days', h.bucket - INTERVAL '28 days')) AS normal
FROM dashboard_energy_city_hourly h
WHERE h.bucket >= date_trunc('day', now()) AND h.bucket < date_trunc('day', now()) + INTERVAL '1 day'
ORDER BY 1"""


def board() -> Board:
    return Board(
        uid="civicpulse-city",
        title="CivicPulse · City overview",
        description="The city now: devices heard, alerts open, air quality and parking by zone,"
        " and today's electricity use against a normal day.",
        source="dashboards/city.py",
        variables=(ZONE, DEVICE_TYPE),
        items=(
            Row("Platform"),
            Panel(
                "Devices online",
                "stat",
                (
                    Sql(
                        f"SELECT count(*) FILTER (WHERE online) AS online,"
                        f" count(*) FILTER (WHERE NOT online) AS offline, count(*) AS devices"
                        f" FROM ({LIVENESS}) live",
                        ("online", "offline", "devices"),
                    ),
                ),
                description="Heard from within two reporting intervals and not offline by"
                " its last will (as `civicpulse devices health` judges it).",
                width=8,
                height=5,
            ),
            Panel(
                "Alerts open",
                "stat",
                (
                    Sql(
                        "SELECT count(*) FILTER (WHERE state = 'open') AS open,"
                        " count(*) FILTER (WHERE state = 'acknowledged') AS acknowledged"
                        f" FROM alerts WHERE state <> 'resolved' AND {zone_chosen('zone_id')}",
                        ("open", "acknowledged"),
                    ),
                ),
                width=8,
                height=5,
                thresholds=(Threshold(None, "green"), Threshold(1, "orange")),
            ),
            Panel(
                "Electricity today vs normal",
                "timeseries",
                (Sql(ENERGY_TODAY, ("time", "today", "normal"), "time_series"),),
                description="All households with hourly consent, in kWh per hour (UTC hours);"
                " normal is the mean of the same hour on the four previous same weekdays. An"
                " hour with fewer than 10 households, or one household above half the total,"
                " is withheld (a gap).",
                unit="kwatth",
                width=8,
                height=5,
            ),
            Row("Now, by zone"),
            Panel(
                "Air quality index by zone",
                "geomap",
                (Sql(ZONE_DAQI, ("zone", "latitude", "longitude", "daqi", "monitors")),),
                description="The highest Daily Air Quality Index of the zone's monitors over the"
                " last complete hour (before sensor QC).",
                thresholds=INDEX_THRESHOLDS,
                map_colour="daqi",
                height=12,
            ),
            Panel(
                "Parking availability by zone",
                "geomap",
                (
                    Sql(
                        PARKING_NOW,
                        ("zone", "latitude", "longitude", "free", "bays", "free_pct"),
                    ),
                ),
                description="Free bays now in each controlled parking zone (each bay's newest"
                " reading).",
                thresholds=(
                    Threshold(None, "red"),
                    Threshold(10, "orange"),
                    Threshold(25, "green"),
                ),
                map_colour="free_pct",
                height=12,
            ),
        ),
    )
