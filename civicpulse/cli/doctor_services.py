"""``civicpulse doctor``'s checks of the running platform: each service's metrics endpoint, and
TimescaleDB's background jobs (compression, retention, rollup refresh).

A service is "reachable" when its Prometheus endpoint answers with an exposition; the figures
shown are the ones an operator looks at first (what ingest acknowledged and holds, the alerts
open, when the scheduler last looked, the API's server errors).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from civicpulse.errors import ConfigError
from storage.connection import Conn

SETTING = "CIVICPULSE_METRICS_URLS"


@dataclass(slots=True)
class Findings:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_endpoints(text: str, source: str = SETTING) -> dict[str, str]:
    """``ingest=http://…/metrics,api=http://…/metrics`` as ``{name: url}``."""
    endpoints: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise ConfigError(source, f"expected name=http://host:port/metrics, got {item!r}")
        endpoints[name.strip()] = url.strip()
    return endpoints


def samples(text: str) -> dict[str, float]:
    """Every sample's value summed over its labels, by sample name."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def highlights(values: Mapping[str, float], *, now: float) -> str:
    """The figures that say whether a service is doing its job, from whichever it exports."""
    shown: list[str] = []

    def has(name: str) -> bool:
        return name in values

    if has("civicpulse_ingest_messages_acked_total"):
        shown.append(
            f"{values['civicpulse_ingest_messages_acked_total']:,.0f} messages acknowledged"
        )
        shown.append(f"{values.get('civicpulse_ingest_pending_messages', 0):,.0f} pending")
    if has("civicpulse_alerts_changes_total"):
        shown.append(f"{values['civicpulse_alerts_changes_total']:,.0f} changes evaluated")
        shown.append(f"{values.get('civicpulse_alerts_active', 0):,.0f} alerts active")
    if has("civicpulse_analytics_checks_total"):
        last = values.get("civicpulse_analytics_last_check_timestamp_seconds", 0.0)
        ago = f"{now - last:,.0f} s ago" if last else "never"
        shown.append(
            f"{values.get('civicpulse_analytics_runs_total', 0):,.0f} runs, last check {ago}"
        )
    if has("civicpulse_api_requests_total"):
        shown.append(f"{values['civicpulse_api_requests_total']:,.0f} requests")
    return ", ".join(shown) or f"{len(values)} samples"


def check_endpoints(endpoints: Mapping[str, str], *, timeout: float = 3.0) -> Findings:
    found = Findings()
    if not endpoints:
        return found
    found.lines.append("services")
    width = max(len(name) for name in endpoints)
    for name, url in endpoints.items():
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (an operator's URL)
                text = response.read().decode()
            values = samples(text)
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            found.lines.append(f"  {name:<{width}}  {url}: no answer")
            found.problems.append(
                f"{name}: its metrics endpoint {url} does not answer ({reason}): is it running?"
            )
            continue
        found.lines.append(f"  {name:<{width}}  {url}: up; {highlights(values, now=time.time())}")
    return found


# TimescaleDB's own jobs (telemetry, job history retention) have ids below 1000.
_JOBS = """
SELECT j.job_id, j.application_name, j.scheduled, j.next_start, s.last_run_status,
       coalesce(s.total_failures, 0), s.total_runs,
       (SELECT e.err_message FROM timescaledb_information.job_errors e
        WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1)
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.job_id >= 1000
ORDER BY j.job_id
"""
# TimescaleDB's documentation: max_worker_processes must cover its background workers and the
# parallel query workers, or jobs fail with "failed to start a background worker".
_WORKERS = (
    "SELECT current_setting('max_worker_processes')::int,"
    " current_setting('timescaledb.max_background_workers')::int,"
    " current_setting('max_parallel_workers')::int"
)

_SCHEDULER = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'TimescaleDB Background Worker Scheduler'"
)


async def timescaledb_jobs(conn: Conn, *, now: datetime) -> Findings:
    """Whether the policies that compress, drop and refresh data are scheduled and succeed."""
    found = Findings()
    try:
        # A savepoint: a failure here (a permission, a lock) leaves the other checks working.
        async with conn.transaction():
            cur = await conn.execute(_JOBS)
            jobs = await cur.fetchall()
            cur = await conn.execute(_SCHEDULER)
            row = await cur.fetchone()
            cur = await conn.execute(_WORKERS)
            workers = await cur.fetchone()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        found.problems.append(f"TimescaleDB's jobs could not be read: {reason}")
        return found
    scheduler = bool(row and int(str(row[0])))
    failed = [j for j in jobs if j[4] == "Failed"]
    ran = [j for j in jobs if j[6]]
    found.lines.append(
        f"  TimescaleDB jobs: {len(jobs)} ({len(ran)} have run, {len(jobs) - len(ran)} not yet,"
        f" {len(failed)} failed last time); scheduler {'running' if scheduler else 'NOT running'}"
    )
    if jobs and not scheduler:
        found.problems.append(
            "TimescaleDB's job scheduler is not running for this database: compression,"
            " retention and rollup refresh do not happen (check timescaledb.max_background_workers"
            " and the server log)"
        )
    for job_id, name, scheduled, next_start, *_rest in jobs:
        if not scheduled:
            found.problems.append(
                f"TimescaleDB job {job_id} ({name}) is paused:"
                f" SELECT alter_job({job_id}, scheduled => true)"
            )
        elif isinstance(next_start, datetime) and (now - next_start).total_seconds() > 3600:
            found.problems.append(
                f"TimescaleDB job {job_id} ({name}) is overdue since {next_start:%Y-%m-%d %H:%M}Z"
            )
    if failed:
        ids = ", ".join(str(job[0]) for job in failed)
        newest = failed[-1][7] or "see timescaledb_information.job_errors"
        found.problems.append(
            f"{len(failed)} TimescaleDB job{'s' if len(failed) > 1 else ''} failed the last run"
            f" (job {ids}); the latest error: {newest}"
        )
    if workers is not None:
        processes, background, parallel = (int(str(v)) for v in workers)
        if processes < background + parallel:
            found.problems.append(
                f"max_worker_processes ({processes}) is below timescaledb.max_background_workers"
                f" ({background}) + max_parallel_workers ({parallel}): jobs fail to start once"
                " the workers run out; raise max_worker_processes (needs a restart)"
            )
    return found
