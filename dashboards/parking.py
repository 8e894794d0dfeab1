"""Parking: availability by zone, occupancy by hour and weekday, how long vehicles stay and how
often bays turn over, and stays beyond a bay's limit."""

from __future__ import annotations

from dashboards.city import BAYS_NOW
from dashboards.model import Board, Panel, Row, Sql, Threshold
from dashboards.sql import LONDON, ZONE, in_zone, zone_chosen

AVAILABILITY = f"""WITH bays AS ({BAYS_NOW} AND {in_zone("b")})
SELECT z.name AS zone, count(*) FILTER (WHERE NOT b.occupied) AS free, count(*) AS bays,
  round(100.0 * count(*) FILTER (WHERE NOT b.occupied) / count(*), 1) AS free_pct
FROM bays b JOIN device_zones m ON m.device_id = b.device_id
JOIN zones z ON z.zone_id = m.zone_id AND z.kind = 'parking_zone'
WHERE {zone_chosen("z.zone_id")}
GROUP BY z.name ORDER BY free_pct"""

OCCUPANCY = f"""SELECT $__timeGroupAlias(r.bucket, $__interval), z.name AS metric,
  100 * sum(r.occupied_sum) / nullif(sum(r.occupied_n), 0) AS occupied_pct
FROM parking_bay_hourly r JOIN device_zones m ON m.device_id = r.device_id
JOIN zones z ON z.zone_id = m.zone_id AND z.kind = 'parking_zone'
WHERE $__timeFilter(r.bucket) AND {zone_chosen("z.zone_id")}
GROUP BY 1, 2 ORDER BY 1, 2"""

_HOURS = tuple(f"{h:02d}" for h in range(24))
_WEEKDAYS = "ARRAY['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']"
HEATMAP = f"""WITH cells AS (
  SELECT extract(isodow FROM r.bucket AT TIME ZONE '{LONDON}')::int AS weekday,
    extract(hour FROM r.bucket AT TIME ZONE '{LONDON}')::int AS hour,
    100 * sum(r.occupied_sum) / nullif(sum(r.occupied_n), 0) AS occupied_pct
  FROM parking_bay_hourly r
  WHERE $__timeFilter(r.bucket) AND {in_zone("r")}
  GROUP BY 1, 2
)
SELECT ({_WEEKDAYS})[weekday] AS weekday,
  {", ".join(f'round(max(occupied_pct) FILTER (WHERE hour = {h})::numeric, 0) AS "{h:02d}"' for h in range(24))}
FROM cells GROUP BY weekday ORDER BY weekday"""

# Stays from the readings: a bay's state changes where a reading differs from the one before.
# A stay running at the start of the range has no known arrival and is left out.
STAYS = f"""readings AS (
  SELECT r.device_id, r.ts, r.occupied,
    lag(r.occupied) OVER (PARTITION BY r.device_id ORDER BY r.ts) AS before
  FROM parking_bay_readings r
  WHERE $__timeFilter(r.ts) AND r.occupied IS NOT NULL AND {in_zone("r")}
), changes AS (
  SELECT device_id, ts, occupied, before IS NULL AS first FROM readings
  WHERE before IS DISTINCT FROM occupied
), stays AS (
  SELECT device_id, ts AS arrived, occupied, first,
    lead(ts) OVER (PARTITION BY device_id ORDER BY ts) AS departed
  FROM changes
)"""

DWELL = f"""WITH {STAYS}
SELECT z.name AS zone, count(*) AS stays, count(DISTINCT s.device_id) AS bays,
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.departed - s.arrived))
    / 60)::numeric, 1) AS median_minutes,
  round((avg(extract(epoch FROM s.departed - s.arrived)) / 60)::numeric, 1) AS mean_minutes,
  round(count(*)::numeric / count(DISTINCT s.device_id)
    / greatest(extract(epoch FROM $__timeTo()::timestamptz - $__timeFrom()::timestamptz) / 86400,
               1.0 / 24)::numeric, 2) AS turnover_per_bay_day
FROM stays s JOIN device_zones m ON m.device_id = s.device_id
JOIN zones z ON z.zone_id = m.zone_id AND z.kind = 'parking_zone'
WHERE s.occupied AND NOT s.first AND s.departed IS NOT NULL AND {zone_chosen("z.zone_id")}
GROUP BY z.name ORDER BY z.name"""

OVERSTAYS = f"""WITH {STAYS}
SELECT s.arrived AS "time", s.device_id AS bay, d.attributes->>'parking_zone' AS zone,
  d.attributes->>'restriction' AS restriction,
  (d.attributes->>'max_stay_minutes')::int AS max_stay_minutes,
  round((extract(epoch FROM coalesce(s.departed, now()) - s.arrived) / 60)::numeric)
    AS stayed_minutes, s.departed IS NULL AS still_there
FROM stays s JOIN dashboard_devices d ON d.device_id = s.device_id
WHERE s.occupied AND NOT s.first
  AND coalesce(s.departed, now()) - s.arrived
      > make_interval(mins => (d.attributes->>'max_stay_minutes')::int)
ORDER BY s.arrived DESC"""


def board() -> Board:
    return Board(
        uid="civicpulse-parking",
        title="CivicPulse · Parking",
        description="On-street bays: availability now, occupancy over time and by hour and"
        " weekday, dwell and turnover, and overstays.",
        source="dashboards/parking.py",
        variables=(ZONE,),
        items=(
            Row("Now"),
            Panel(
                "Availability by zone",
                "bargauge",
                (Sql(AVAILABILITY, ("zone", "free", "bays", "free_pct")),),
                description="Free bays now, as a share of the zone's bays (each bay's newest"
                " reading).",
                unit="percent",
                min=0,
                max=100,
                thresholds=(
                    Threshold(None, "red"),
                    Threshold(10, "orange"),
                    Threshold(25, "green"),
                ),
                width=8,
            ),
            Panel(
                "Occupancy by zone",
                "timeseries",
                (
                    Sql(
                        OCCUPANCY,
                        ("time", "metric", "occupied_pct"),
                        "time_series",
                        interval="1h",
                    ),
                ),
                description="Share of readings that found the bay occupied (hourly rollups).",
                unit="percent",
                min=0,
                max=100,
                width=16,
            ),
            Row("Patterns"),
            Panel(
                "Occupancy by hour and weekday",
                "table",
                (Sql(HEATMAP, ("weekday", *_HOURS)),),
                description="Per cent occupied, London time: the mean over the range of each weekday"
                " and hour.",
                thresholds=(
                    Threshold(None, "green"),
                    Threshold(70, "orange"),
                    Threshold(90, "red"),
                ),
                colour_cells=True,
                width=24,
            ),
            Panel(
                "Dwell and turnover",
                "table",
                (
                    Sql(
                        DWELL,
                        (
                            "zone",
                            "stays",
                            "bays",
                            "median_minutes",
                            "mean_minutes",
                            "turnover_per_bay_day",
                        ),
                    ),
                ),
                description="Completed stays in the range (arrival and departure both seen);"
                " turnover is stays per bay per day.",
            ),
            Panel(
                "Overstays",
                "table",
                (
                    Sql(
                        OVERSTAYS,
                        (
                            "time",
                            "bay",
                            "zone",
                            "restriction",
                            "max_stay_minutes",
                            "stayed_minutes",
                            "still_there",
                        ),
                        rows="any",
                    ),
                ),
                description="Stays longer than the bay's maximum stay, including vehicles"
                " still there. Controlled hours are not applied here (the `bay_overstay`"
                " alert applies them). None is right while every stay is within its limit.",
            ),
        ),
    )
