"""Air quality: the Daily Air Quality Index per monitor and zone, each pollutant on its DAQI
averaging period against the index's bands, exceedances of the UK limits, and the monitors whose
readings quality control flags."""

from __future__ import annotations

from analytics.air_quality import OBJECTIVES, Framework, Metric
from analytics.air_quality.pollutants import POLLUTANTS, Pollutant
from dashboards.model import Board, Panel, Row, Sql
from dashboards.sql import (
    HOUR_CAPTURE,
    INDEX_THRESHOLDS,
    ZONE,
    daqi_concentrations,
    daqi_index,
    daqi_thresholds,
    in_zone,
    monitor_index,
    zone_chosen,
)

_NAMES: dict[Pollutant, str] = {
    "no2": "NO₂, hourly mean",
    "o3": "O₃, running 8-hour mean",
    "so2": "SO₂, highest 15-minute mean of the hour",
    "pm25": "PM2.5, running 24-hour mean",
    "pm10": "PM10, running 24-hour mean",
}
_RANGE = "$__timeFrom()", "$__timeTo()"

INDEX_NOW = f"""WITH {daqi_concentrations("now() - INTERVAL '1 hour'", "now()")}
SELECT DISTINCT ON (d.device_id) d.device_id AS monitor,
  (SELECT string_agg(z.name, ', ' ORDER BY z.name) FROM device_zones m
   JOIN zones z ON z.zone_id = m.zone_id WHERE m.device_id = d.device_id) AS zones,
  d.bucket AS hour, {", ".join(f"{daqi_index(p, f'd.{p}')} AS {p}" for p in POLLUTANTS)},
  {monitor_index("d")} AS daqi
FROM daqi d WHERE d.bucket < date_trunc('hour', now())
ORDER BY d.device_id, d.bucket DESC"""

ZONE_SERIES = f"""WITH {daqi_concentrations(*_RANGE)}
SELECT d.bucket AS "time", z.name AS metric, max({monitor_index("d")}) AS daqi
FROM daqi d JOIN device_zones m ON m.device_id = d.device_id JOIN zones z ON z.zone_id = m.zone_id
WHERE $__timeFilter(d.bucket) AND {zone_chosen("z.zone_id")}
GROUP BY 1, 2 ORDER BY 1, 2"""


def _pollutant_series(pollutant: Pollutant) -> str:
    return f"""WITH {daqi_concentrations(*_RANGE)}
SELECT d.bucket AS "time", d.device_id AS metric, d.{pollutant} AS value
FROM daqi d WHERE $__timeFilter(d.bucket) AND d.{pollutant} IS NOT NULL
ORDER BY 1, 2"""


def _exceedances() -> str:
    """One SELECT per UK limit counted in hours or days, from the hourly and daily rollups."""
    parts = []
    day_capture = HOUR_CAPTURE * 24
    for objective in OBJECTIVES:
        if objective.framework is not Framework.UK_LIMIT:
            continue
        if objective.metric is Metric.HOURLY_EXCEEDANCES:
            relation, capture = "air_quality_hourly", HOUR_CAPTURE
        elif objective.metric is Metric.DAILY_EXCEEDANCES:
            relation, capture = "air_quality_daily", day_capture
        else:
            continue
        p = objective.pollutant
        parts.append(
            f"SELECT '{objective.description}' AS objective, r.device_id AS monitor,"
            f" count(*) FILTER (WHERE r.{p}_avg > {objective.level_ugm3:g}) AS exceedances,"
            f" {objective.allowed} AS allowed_per_year, count(*) AS periods"
            f" FROM {relation} r WHERE $__timeFilter(r.bucket) AND r.{p}_n >= {capture}"
            f" AND {in_zone('r')} GROUP BY r.device_id"
        )
    return "\nUNION ALL\n".join(parts) + "\nORDER BY exceedances DESC, objective, monitor"


FLAGGED = f"""SELECT a.opened_at AS "time", a.subject AS monitor, a.zone_id AS zone, a.state,
  a.message FROM alerts a JOIN alert_rules r ON r.rule_id = a.rule_id
WHERE r.kind = 'sensor_flagged' AND (a.state <> 'resolved' OR $__timeFilter(a.opened_at))
  AND {zone_chosen("a.zone_id")}
ORDER BY a.opened_at DESC"""


def board() -> Board:
    pollutant_panels = tuple(
        Panel(
            _NAMES[p],
            "timeseries",
            (Sql(_pollutant_series(p), ("time", "metric", "value"), "time_series", "any", "1h"),),
            description="Per monitor, on the DAQI's averaging period; the bands are the index's"
            " (Low, Moderate from index 4, High from 7, Very High at 10). Empty until a monitor"
            " has enough valid hours (6 of 8 for O₃, 18 of 24 for particles).",
            unit="conμgm3",
            thresholds=daqi_thresholds(p),
            width=12 if p != "pm10" else 24,
        )
        for p in POLLUTANTS
    )
    return Board(
        uid="civicpulse-air-quality",
        title="CivicPulse · Air quality",
        description="The UK Daily Air Quality Index per monitor and zone, each pollutant against"
        " the index's bands, exceedances of the UK limits, and sensors that quality control"
        f" flags. An hour counts with {HOUR_CAPTURE} or more readings (75 %).",
        source="dashboards/air_quality.py",
        variables=(ZONE,),
        items=(
            Row("Index"),
            Panel(
                "Index now, per monitor",
                "table",
                (
                    Sql(
                        INDEX_NOW,
                        ("monitor", "zones", "hour", *POLLUTANTS, "daqi"),
                    ),
                ),
                description="Sub-indices of the last complete hour; the monitor's index is the"
                " highest. Empty cells: not enough data for that pollutant's period.",
                thresholds=INDEX_THRESHOLDS,
                colour_cells=True,
                width=14,
            ),
            Panel(
                "Index by zone",
                "timeseries",
                (Sql(ZONE_SERIES, ("time", "metric", "daqi"), "time_series", interval="1h"),),
                description="A zone's index is its highest monitor's (as Defra reports a"
                " region by its highest site).",
                thresholds=INDEX_THRESHOLDS,
                min=1,
                max=10,
                width=10,
            ),
            Row("Pollutants"),
            *pollutant_panels,
            Row("Compliance and data quality"),
            Panel(
                "Exceedances of UK limits",
                "table",
                (
                    Sql(
                        _exceedances(),
                        ("objective", "monitor", "exceedances", "allowed_per_year", "periods"),
                    ),
                ),
                description="Hours and days (UTC days of the daily rollup) above each limit"
                " in the time range, with the number a year the law allows. The 15-minute SO₂"
                " and 8-hour O₃ objectives are assessed by the analytics, not here.",
            ),
            Panel(
                "Flagged sensor readings",
                "table",
                (Sql(FLAGGED, ("time", "monitor", "zone", "state", "message")),),
                description="Monitors whose readings fail quality control (stuck, spikes,"
                " drift, out of range), as the alert service records them (rule kind"
                " `sensor_flagged`). Empty while no rule of that kind is set up.",
            ),
        ),
    )
