"""Pipeline: how ingest keeps up. Rates, lag, batch latency, quarantine and broker drops come
from ingest's Prometheus metrics (docs/operations.md#metrics); arrival delay and stored rows from
the database."""

from __future__ import annotations

from dashboards.model import Board, Panel, Prom, Row, Sql
from dashboards.sql import DEVICE_TYPE, type_chosen
from devices.types import DEVICE_TYPES

RATE = "$__rate_interval"


def _delay() -> str:
    """95th percentile of arrival delay (received minus device time) per type, per bucket.
    Meters are left out: their raw readings are not Grafana's to read."""
    parts = [
        f"SELECT $__timeGroup(r.received_at, $__interval) AS bucket, '{t.name}'::text AS metric,"
        f" percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.received_at - r.ts))"
        f" AS delay_s FROM {t.table} r"
        f" WHERE $__timeFilter(r.received_at) AND r.ts >= $__timeFrom()::timestamptz"
        f" - INTERVAL '1 day' AND {type_chosen(repr(t.name))} GROUP BY 1"
        for t in DEVICE_TYPES.values()
        if not t.personal
    ]
    union = "\nUNION ALL\n".join(parts)
    return f'SELECT bucket AS "time", metric, delay_s FROM (\n{union}\n) delays ORDER BY 1, 2'


STORED = f"""SELECT $__timeGroupAlias(s.bucket, $__interval), s.device_type AS metric,
  sum(s.samples) AS readings
FROM dashboard_samples_hourly s
WHERE $__timeFilter(s.bucket) AND {type_chosen("s.device_type")}
GROUP BY 1, 2 ORDER BY 1, 2"""

QUARANTINE = f"""SELECT $__timeGroupAlias(q.received_at, $__interval), q.reason AS metric,
  count(*) AS messages
FROM dashboard_quarantine q
WHERE $__timeFilter(q.received_at) AND {type_chosen("q.device_type")}
GROUP BY 1, 2 ORDER BY 1, 2"""


def board() -> Board:
    return Board(
        uid="civicpulse-pipeline",
        title="CivicPulse · Pipeline",
        description="Is ingest keeping up? Message and row rates, lag, batch latency,"
        " quarantine and broker drops (Prometheus, scraping each ingest's /metrics), with"
        " arrival delay and stored readings from the database.",
        source="dashboards/pipeline.py",
        variables=(DEVICE_TYPE,),
        time_from="now-6h",
        refresh="30s",
        items=(
            Row("Throughput (Prometheus)"),
            Panel(
                "Messages per second",
                "timeseries",
                (
                    Prom(
                        f"sum(rate(civicpulse_ingest_messages_received_total[{RATE}]))",
                        "received",
                    ),
                    Prom(
                        f"sum(rate(civicpulse_ingest_messages_acked_total[{RATE}]))",
                        "acknowledged after commit",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "Readings written per second",
                "timeseries",
                (
                    Prom(
                        "sum by (device_type)"
                        f" (rate(civicpulse_ingest_rows_written_total[{RATE}]))",
                        "{{device_type}}",
                    ),
                    Prom(
                        f"sum by (device_type) (rate(civicpulse_ingest_duplicates_total[{RATE}]))",
                        "{{device_type}} duplicates",
                    ),
                ),
                unit="rowsps",
            ),
            Row("Lag and latency"),
            Panel(
                "Lag: messages waiting",
                "timeseries",
                (
                    Prom("sum(civicpulse_ingest_pending_messages)", "pending (in memory)"),
                    Prom(
                        "sum(civicpulse_ingest_messages_received_total)"
                        " - sum(civicpulse_ingest_messages_acked_total)",
                        "received, not yet acknowledged",
                    ),
                ),
                description="Near CIVICPULSE_INGEST_RECEIVE_MAXIMUM: ingest is not keeping up.",
            ),
            Panel(
                "Batch latency",
                "timeseries",
                (
                    Prom(
                        "histogram_quantile(0.95, sum by (le)"
                        f" (rate(civicpulse_ingest_batch_seconds_bucket[{RATE}])))",
                        "p95",
                    ),
                    Prom(
                        f"sum(rate(civicpulse_ingest_batch_seconds_sum[{RATE}]))"
                        f" / sum(rate(civicpulse_ingest_batch_seconds_count[{RATE}]))",
                        "mean",
                    ),
                ),
                description="Time to write and commit one batch.",
                unit="s",
            ),
            Panel(
                "Arrival delay (database)",
                "timeseries",
                (
                    Sql(
                        _delay(),
                        ("time", "metric", "delay_s"),
                        "time_series",
                        interval="5m",
                    ),
                ),
                description="95th percentile of received minus device time, per type: a"
                " backlog draining after an outage shows here. Smart meters are not shown (their"
                " raw readings are not readable by Grafana's role).",
                unit="s",
                width=24,
            ),
            Row("Refusals and drops"),
            Panel(
                "Quarantine rate",
                "timeseries",
                (
                    Prom(
                        f"sum by (reason) (rate(civicpulse_ingest_quarantined_total[{RATE}]))",
                        "{{reason}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "Broker drops and database errors",
                "timeseries",
                (
                    Prom("max(civicpulse_broker_dropped_messages)", "dropped by the broker"),
                    Prom(
                        "sum(civicpulse_broker_dropped_while_away_total)",
                        "dropped while ingest was away",
                    ),
                    Prom(
                        f"sum(increase(civicpulse_ingest_db_errors_total[{RATE}]))",
                        "database write errors",
                    ),
                ),
                description="Mosquitto's own count of dropped messages (queue or in-flight"
                " limits; docs/operations.md#broker-queue-limits). Any rise means lost data.",
            ),
            Row("Stored (database)"),
            Panel(
                "Readings stored per hour",
                "timeseries",
                (Sql(STORED, ("time", "metric", "readings"), "time_series", interval="1h"),),
            ),
            Panel(
                "Quarantined per interval",
                "timeseries",
                (
                    Sql(
                        QUARANTINE,
                        ("time", "metric", "messages"),
                        "time_series",
                        interval="5m",
                    ),
                ),
            ),
        ),
    )
