"""The nudge benchmark's population: a borough of households with a year of daily meter reads,
made by the simulator and ingested by the real pipeline.

``civicpulse simulate`` (a synthetic Camden: property types, floor-area bands, heating fuels and
consent levels in realistic shares, homes spread over the borough, plus weather stations for the
degree days) publishes every meter's daily read through a Mosquitto of the benchmark's own to a
``civicpulse ingest`` process, which stores them as it stores any reading. On TimescaleDB the
continuous aggregates are then refreshed over the whole window, as the refresh policy would have
done by the time a month is reported. A description of the population is kept in the database
(``civicpulse_meta``), so ``--reuse`` can tell whether a kept database already holds it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from bench.broker import BenchBroker
from bench.database import BenchDatabase
from bench.pipelines import scrape
from bench.procs import REPO, RssSampler
from civicpulse.embedded import free_port
from devices.types import DEVICE_TYPES

logger = logging.getLogger("bench")

HISTORY_DAYS = 367
"""Days of reads before a period's end: the nudge run's year of history and the day before it
(a day's use is the difference of two end-of-day registers)."""
WEATHER_STATIONS = 4
MARKER = "bench_nudges_population"
CLI = [sys.executable, "-m", "civicpulse.cli"]
"""This tree's command (run from the repository root), whatever the venv's script points at."""
PREFIXES = tuple(DEVICE_TYPES[t].prefix for t in ("smart_meter", "weather"))


@dataclass(frozen=True, slots=True)
class Population:
    """What the benchmark database holds (everything else follows from the seed)."""

    households: int
    start: str
    """First day of reads (ISO date; reads are at 23:30 UTC)."""
    end: str
    """The day after the last read."""
    seed: int = 2026
    weather_stations: int = WEATHER_STATIONS

    @classmethod
    def ending(cls, households: int, end: date, *, seed: int = 2026) -> Population:
        return cls(
            households, (end - timedelta(days=HISTORY_DAYS)).isoformat(), end.isoformat(), seed
        )

    @property
    def days(self) -> int:
        return (date.fromisoformat(self.end) - date.fromisoformat(self.start)).days

    @property
    def readings(self) -> int:
        """Daily meter reads and hourly weather readings."""
        return self.days * (self.households + 24 * self.weather_stations)

    def scenario(self) -> str:
        """The simulator's scenario for it (TOML)."""
        start = datetime.fromisoformat(self.start).replace(tzinfo=UTC)
        return (
            f'name = "bench-nudges"\ndescription = "{self.households:,} households,'
            f' daily reads"\nseed = {self.seed}\n\n[fleet]\nprefix = "bn"\n'
            f"smart_meter = {self.households}\nweather = {self.weather_stations}\n\n"
            f'[time]\nmode = "backfill"\nstart = "{start.isoformat()}"\n'
            f'duration = "{self.days}d"\n\n'
            '[reporting]\nsmart_meter = "1d"\nweather = "1h"\n\n'
            "[publish]\nconnections = 4\nmax_inflight = 1000\n"
        )


@dataclass(frozen=True, slots=True)
class Populated:
    """How the population was made (figures for the report)."""

    population: Population
    seconds: float
    """From starting the simulator until ingest had stored the last reading."""
    simulate_seconds: float
    simulate_summary: str
    simulator_peak_rss: int
    ingest_peak_rss: int
    refresh_seconds: float
    settle_seconds: float
    """Compression (TimescaleDB) or emptying the hourly rollup, and VACUUM ANALYZE."""
    database_bytes: int

    @property
    def rate(self) -> float:
        return self.population.readings / self.seconds if self.seconds > 0 else 0.0


def existing(db: BenchDatabase) -> tuple[Population, dict[str, float]] | None:
    """The population a kept database holds, and the figures of when it was made."""
    try:
        with psycopg.connect(db.url) as conn:
            row = conn.execute(
                "SELECT value FROM civicpulse_meta WHERE key = %s", (MARKER,)
            ).fetchone()
    except psycopg.OperationalError:
        return None  # no such database
    if row is None:
        return None
    found = json.loads(str(row[0]))
    return Population(**found["population"]), found["figures"]


def migrate(db: BenchDatabase) -> str:
    """``civicpulse db migrate`` on ``db``; returns its first line (the storage mode)."""
    done = subprocess.run(
        [*CLI, "db", "migrate"],
        env={**os.environ, "CIVICPULSE_DATABASE_URL": db.url},
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise RuntimeError(f"civicpulse db migrate exited with {done.returncode}: {done.stderr}")
    return done.stdout.splitlines()[0] if done.stdout else ""


def populate(
    db: BenchDatabase, population: Population, workdir: Path, *, workers: int
) -> Populated:
    """Simulate, publish and ingest ``population`` into the (migrated, empty) ``db``."""
    scenario = workdir / "bench-nudges.toml"
    scenario.write_text(population.scenario(), encoding="utf-8")
    metrics = free_port()
    env = {
        **os.environ,
        "CIVICPULSE_DATABASE_URL": db.url,
        "CIVICPULSE_INGEST_CLIENT_ID": "bench-nudges-ingest",
        "CIVICPULSE_INGEST_METRICS_PORT": str(metrics),
        "CIVICPULSE_INGEST_WORKERS": str(workers),
        "CIVICPULSE_LOG_LEVEL": "WARNING",
    }
    with BenchBroker(workdir / "broker") as broker:
        env["CIVICPULSE_MQTT_URL"] = broker.url
        ingest_log = (workdir / "ingest.log").open("wb")
        ingest = subprocess.Popen(
            [*CLI, "ingest"],
            env=env,
            stdout=ingest_log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        ingest_rss = RssSampler(ingest.pid, interval=1.0)
        ingest_rss.start()
        try:
            _wait_metrics(metrics, ingest)
            began = time.monotonic()
            logger.info(
                "simulating %s households x %d days of daily reads into %s",
                f"{population.households:,}",
                population.days,
                db.name,
            )
            simulator = subprocess.Popen(
                [*CLI, "simulate", "--scenario", str(scenario), "--register",
                 "--quiet"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=(workdir / "simulate.log").open("wb"),
                text=True,
                cwd=REPO,
            )  # fmt: skip
            simulator_rss = RssSampler(simulator.pid, interval=1.0)
            simulator_rss.start()
            simulated = _wait_stored(metrics, ingest, simulator, population.readings, began)
            out, _ = simulator.communicate()
            simulator_rss.stop()
            if simulator.returncode != 0:
                raise RuntimeError(f"civicpulse simulate exited with {simulator.returncode}")
            stored = time.monotonic() - began
        finally:
            ingest.terminate()
            ingest.wait(120)
            ingest_rss.stop()
            ingest_log.close()
    rows = _count(db.url)
    if rows != population.readings:
        raise RuntimeError(f"{rows:,} readings stored, {population.readings:,} simulated")
    refresh, settle = _settle(db.url, population)
    result = Populated(
        population=population,
        seconds=stored,
        simulate_seconds=simulated,
        simulate_summary=out.strip().splitlines()[-1] if out.strip() else "",
        simulator_peak_rss=simulator_rss.peak,
        ingest_peak_rss=ingest_rss.peak,
        refresh_seconds=refresh,
        settle_seconds=settle,
        database_bytes=_size(db.url),
    )
    figures = {k: v for k, v in asdict(result).items() if k != "population"}
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO civicpulse_meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (MARKER, json.dumps({"population": asdict(population), "figures": figures})),
        )
    return result


def _wait_metrics(port: int, ingest: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ingest.poll() is not None:
            raise RuntimeError(f"civicpulse ingest exited with {ingest.returncode}")
        try:
            scrape(port)
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("civicpulse ingest did not start")


def _wait_stored(
    port: int,
    ingest: subprocess.Popen[bytes],
    simulator: subprocess.Popen[str],
    readings: int,
    began: float,
) -> float:
    """Until ingest has written ``readings`` rows; returns when the simulator finished."""
    simulated = 0.0
    last_log = time.monotonic()
    while True:
        if ingest.poll() is not None:
            raise RuntimeError(f"civicpulse ingest exited with {ingest.returncode}")
        if not simulated and simulator.poll() is not None:
            if simulator.returncode != 0:
                raise RuntimeError(f"civicpulse simulate exited with {simulator.returncode}")
            simulated = time.monotonic() - began
            logger.info("simulator done after %.0f s", simulated)
        written = scrape(port).get("civicpulse_ingest_rows_written_total", 0.0)
        if written >= readings:
            return simulated or time.monotonic() - began
        if time.monotonic() - last_log > 60:
            last_log = time.monotonic()
            elapsed = last_log - began
            logger.info(
                "%s of %s readings stored after %.0f s (%s/s)",
                f"{written:,.0f}",
                f"{readings:,}",
                elapsed,
                f"{written / elapsed:,.0f}",
            )
        time.sleep(1.0)


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM smart_meter_readings)"
            " + (SELECT count(*) FROM weather_readings)"
        ).fetchone()
    return int(str(row[0])) if row else 0


def _settle(url: str, population: Population) -> tuple[float, float]:
    """The state of a database a month after these readings arrived: TimescaleDB's aggregates
    refreshed over the window and raw chunks older than a week compressed (what its policies
    do), the planner's statistics up to date. Returns the seconds of the refresh and of the rest.

    On plain PostgreSQL the meters' hourly rollup is emptied: daily reads fill it with one row
    per reading (a third of the database, 10 GB for 100,000 homes) and the nudge run never reads
    it. TimescaleDB's daily aggregate is built on the hourly one, so that stays.
    """
    start = datetime.fromisoformat(population.start).replace(tzinfo=UTC)
    end = datetime.fromisoformat(population.end).replace(tzinfo=UTC)
    refresh = 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        timescale = conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone() == (1,)
        if timescale:
            began = time.monotonic()
            for view in (f"{p}_{grain}" for p in PREFIXES for grain in ("hourly", "daily")):
                logger.info("refreshing %s", view)
                conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (view, start, end))
            refresh = time.monotonic() - began
        began = time.monotonic()
        if timescale:
            logger.info("compressing raw chunks older than a week")
            for table in ("smart_meter_readings", "weather_readings"):
                conn.execute(
                    "SELECT compress_chunk(c, if_not_compressed => true)"
                    " FROM show_chunks(%s::regclass, older_than => INTERVAL '7 days') c",
                    (table,),
                )
        else:
            conn.execute(f"TRUNCATE {DEVICE_TYPES['smart_meter'].prefix}_hourly_rollup")
        logger.info("vacuum analyze")
        conn.execute("VACUUM ANALYZE")
        analyze = time.monotonic() - began
    return refresh, analyze


def _size(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(str(row[0])) if row else 0
