"""The nudge trial end to end, as a council would run it: a simulated borough's meters send
daily reads through the broker to a real ``civicpulse ingest``; ``analytics trial assign`` splits
the households on the baseline month; the next month the simulator makes the treatment arm use
3 % less (``simulate --treatment``); ``analytics trial estimate`` must find that effect."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from analytics.nudges import Period
from civicpulse.embedded import EmbeddedBroker
from storage import energy
from storage.connection import connect
from storage.energy import Programme
from tests.analytics.homes import last_month
from tests.cli_harness import CLI, civicpulse, cli_env, one_clear_line
from tests.ingest_harness import wait_until
from tests.processes import Processes

pytestmark = pytest.mark.slow

METERS = 2000
EFFECT = -0.03
PREFIX = "trialpipe"
_ESTIMATE = re.compile(
    r"programme: ([+-]\d+\.\d)% \(95% CI ([+-]\d+\.\d)% to ([+-]\d+\.\d)%\),"
    r" p=[\d.]+, (\d+) treated, (\d+) control"
)


def _month_before(period: Period) -> Period:
    return Period.month(f"{period.start - timedelta(days=1):%Y-%m}")


def _scenario(path: Path) -> Path:
    """A borough of 2,000 households on daily reads and one weather station (degree days)."""
    path.write_text(
        f'name = "trial"\nseed = 11\n\n[fleet]\nprefix = "{PREFIX}"\nsmart_meter = {METERS}\n'
        'weather = 1\n\n[time]\nmode = "backfill"\n\n'
        '[reporting]\nsmart_meter = "1d"\nweather = "1h"\nregister_reset_rate = 0.0\n',
        encoding="utf-8",
    )
    return path


def test_a_known_effect_injected_by_the_simulator_is_recovered_through_the_pipeline(
    db: str, own_broker: EmbeddedBroker, processes: Processes, tmp_path: Path
) -> None:
    # A broker of its own: a backfill is a burst of thousands of messages, more than a shared
    # broker with Mosquitto's default queue (1,000 per client) keeps for a busy subscriber.
    post = last_month()  # whole months that have ended, well inside the 400-day window
    pre = _month_before(post)
    effect, low, high = run_trial(db, own_broker.url, processes, tmp_path, pre, post)
    assert low <= EFFECT <= high
    assert high < 0.0  # the saving is detected, not just not ruled out
    assert high - low < 0.04
    assert abs(effect - EFFECT) < 0.015


def run_trial(
    db: str, mqtt_url: str, processes: Processes, tmp_path: Path, pre: Period, post: Period
) -> tuple[float, float, float]:
    """The trial over ``pre`` and ``post``; the estimate and its 95 % interval, as printed.

    The fleet's ids are fixed, not unique per test: every figure is a function of the seeds and
    the ids, so a month pair gives the same estimate on every run (the estimator's coverage over
    many seeds is ``test_trial``'s to show). With these seeds and 2,000 homes every month pair
    from November 2025 to October 2026 was run: each interval covered -3 % and excluded 0, the
    widest (May to June, the heating's end) -3.7 % to -0.9 %.
    """
    # From the day before the baseline: its 23:30 read gives the baseline's first day of use.
    start = datetime.combine(pre.start - timedelta(days=1), datetime.min.time(), UTC)
    env = {
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_MQTT_PROTOCOL": os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5"),
    }
    log = tmp_path / "ingest.log"
    processes.start(
        [*CLI, "ingest"],
        env=cli_env(
            {
                **env,
                "CIVICPULSE_INGEST_CLIENT_ID": f"trial-{uuid.uuid4().hex[:10]}",
                "CIVICPULSE_INGEST_METRICS_PORT": "0",
                "CIVICPULSE_INGEST_SESSION_EXPIRY_S": "60",
            }
        ),
        log=log,
    )
    wait_until(lambda: "subscribed to" in log.read_text(errors="replace"), 60, "ingest up")
    scenario = str(_scenario(tmp_path / "trial.toml"))

    # The baseline month (and the day before it), registering the borough's devices.
    baseline_days = (pre.end - start.date()).days
    first = civicpulse(
        "simulate", "--scenario", scenario, "--register", "--quiet",
        "--start", start.isoformat(), "--duration", f"{baseline_days}d", env=env,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    _wait_stored(db, baseline_days)

    assign = civicpulse(
        "analytics", "trial", "assign", "--baseline", f"{pre.start:%Y-%m}", "--seed", "7", env=env
    )
    assert assign.returncode == 0, assign.stderr
    assert f"assigned {METERS} households (seed 7)" in assign.stdout
    with psycopg.connect(db) as conn:
        arms = {
            str(arm): int(str(n))
            for arm, n in conn.execute(
                "SELECT arm, count(*) FROM energy_assignments GROUP BY arm"
            ).fetchall()
        }
        row = conn.execute(
            "SELECT count(*) FROM devices WHERE device_type = 'smart_meter'"
            " AND consent IN ('daily', 'half_hourly')"
        ).fetchone()
    assert row is not None
    daily = int(str(row[0]))
    assert abs(arms["treatment"] - arms["control"]) <= 40  # balanced within strata

    # The treated month. A run's registers start from each meter's initial value, so the run
    # replays the baseline (the same readings: ingest stores them once) and carries on into it.
    # Households come from the registry and are matched on its household_id.
    total_days = (post.end - start.date()).days
    second = civicpulse(
        "simulate", "--scenario", scenario, "--from-registry", "--quiet",
        "--start", start.isoformat(), "--duration", f"{total_days}d",
        "--treatment", "home-energy-reports", "--effect", str(EFFECT),
        "--effect-from", f"{post.start:%Y-%m-%d}", env=env,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert (
        f"treatment: {arms['treatment']:,} of {METERS:,} simulated households"
        f" ('home-energy-reports' treatment arm) use -3.0% from {post.start:%Y-%m-%d}T00:00:00Z"
    ) in second.stdout
    _wait_stored(db, total_days)

    estimate = civicpulse(
        "analytics", "trial", "estimate",
        "--pre", f"{pre.start:%Y-%m}", "--post", f"{post.start:%Y-%m}", env=env,
    )  # fmt: skip
    assert estimate.returncode == 0, estimate.stderr
    assert f"{METERS} households in the trial" in estimate.stdout
    found = _ESTIMATE.search(estimate.stdout)
    assert found is not None, estimate.stdout
    # Households with daily data are measured; monthly consent gives no daily use to normalise.
    assert int(found[4]) + int(found[5]) == daily, estimate.stdout
    effect, low, high = (float(found[i]) / 100 for i in (1, 2, 3))
    return effect, low, high


def _wait_stored(db: str, days: int) -> None:
    """Until ingest has stored every daily read and hourly weather reading of ``days``."""
    wanted = {"smart_meter_readings": METERS * days, "weather_readings": 24 * days}
    for table, count in wanted.items():
        wait_until(lambda: _count(db, table) == count, 60, f"{count} rows in {table}")  # noqa: B023


def _count(db: str, table: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE device_id LIKE %s").format(
                sql.Identifier(table)
            ),
            (f"{PREFIX}-%",),
        ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_treatment_mistakes_are_one_clear_line(db: str) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    base = ("simulate", "--scenario", "smoke", "--dry-run", "--quiet")
    unknown = civicpulse(*base, "--treatment", "nope", "--effect-from", "2026-10-01", env=env)
    one_clear_line(unknown, 2, "--treatment", "no programme 'nope'")

    async def programme_without_a_trial() -> None:
        async with await connect(db, autocommit=True) as conn:
            await energy.save_programme(conn, Programme("reports", "Home energy reports"))

    asyncio.run(programme_without_a_trial())
    untried = civicpulse(*base, "--treatment", "reports", "--effect-from", "2026-10-01", env=env)
    one_clear_line(untried, 2, "--treatment", "no households in a treatment arm", "trial assign")
    one_clear_line(
        civicpulse(*base, "--effect-from", "2026-10-01", env=env),
        2,
        "--effect-from: needs --treatment PROGRAMME",
    )
    one_clear_line(
        civicpulse(*base, "--treatment", "reports", "--effect", "-1.5", "--effect-from", "now",
                   env=env),
        2,
        "--effect: -1.5 would make use negative",
    )  # fmt: skip
