"""The energy tour's households: the simulator's city of 2,000 homes and a weather station,
registered as ``civicpulse simulate --register`` does, simulated as ``--from-registry`` does, and
published through the demo's broker to ingest.

The fleet is fixed so that the trial's result is not luck (an interval covers the truth 95 % of
the time): the simulator's seed and size are those of ``tests/analytics/test_trial_pipeline.py``
and the device ids depend only on the month, so a rerun in the same month replays the same
readings (ingest stores them once) and reaches the same estimate. ``python -m bench.energy_tour``
runs the whole tour for each month pair in ingest's window and says whether each held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from analytics.nudges import Period
from civicpulse.cli.simulate import register_fleet, registry_record
from simulators import CityDevice, Plan, apply_options, device_from_record, prepare, simulate
from simulators.model import Household, Treatment
from simulators.mqtt.sinks import MemorySink
from simulators.scenario import parse_scenario
from storage.connection import connect
from storage.registry import list_devices

HOMES = 2000
SIMULATOR_SEED = 11


@dataclass(frozen=True, slots=True)
class Months:
    pre: Period
    """The baseline month: it sets the trial's strata."""
    post: Period
    """The month compared and treated."""

    @classmethod
    def before(cls, today: date) -> Months:
        """The last two whole months before ``today`` (well inside ingest's 400-day window)."""
        post = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        pre = (post - timedelta(days=1)).replace(day=1)
        return cls(Period.month(f"{pre:%Y-%m}"), Period.month(f"{post:%Y-%m}"))

    @property
    def start(self) -> datetime:
        """The day before the baseline: its 23:30 read gives the baseline's first day of use."""
        day = self.pre.start - timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def days(self, until: date) -> int:
        return (until - self.start.date()).days

    @property
    def prefix(self) -> str:
        """The fleet's device-id prefix: fixed by the month (see the module)."""
        return f"homes{self.post.start:%Y%m}"


def _plan(
    months: Months, until: date, devices: Sequence[CityDevice], treatment: Treatment | None
) -> Plan:
    scenario = parse_scenario(
        {
            "name": "energy-tour",
            "seed": SIMULATOR_SEED,
            "fleet": {"prefix": months.prefix, "smart_meter": HOMES, "weather": 1},
            "time": {"mode": "backfill"},
            "reporting": {"smart_meter": "1d", "weather": "1h", "register_reset_rate": 0.0},
        },
        where="the energy tour",
    )
    scenario = apply_options(
        scenario, start=months.start.isoformat(), duration=f"{months.days(until)}d"
    )
    return prepare(scenario, devices=list(devices) or None, treatment=treatment)


async def register(database_url: str, months: Months, tag: str) -> list[CityDevice]:
    """Register the city (household ids carry ``tag``: each run's reports, preferences and
    frequency caps stay its own) and return it as ``simulate --from-registry`` reads it."""
    generated = _plan(months, months.pre.end, [], None).devices
    tagged = [
        dataclasses.replace(
            d,
            attributes=dataclasses.replace(
                d.attributes, household_id=f"{tag}-{d.attributes.household_id}"
            ),
        )
        if isinstance(d.attributes, Household)
        else d
        for d in generated
    ]
    await register_fleet(database_url, tagged)
    async with await connect(database_url) as conn:
        registered = await list_devices(conn)
    return [
        device_from_record(registry_record(d))
        for d in registered
        if d.device_id.startswith(f"{months.prefix}-")
    ]


async def messages(
    months: Months,
    devices: Sequence[CityDevice],
    *,
    until: date,
    since: date | None = None,
    treatment: Treatment | None = None,
) -> list[tuple[str, bytes]]:
    """The simulator's messages from the months' start to ``until``, those sent from ``since``
    on (a run always starts at the same instant, so its registers continue the earlier run's:
    the earlier days' messages are those already published)."""
    plan = _plan(months, until, devices, treatment)
    sink = MemorySink()
    # A loop of its own in a thread: generating a month of a city is CPU work, and the demo's
    # ingest shares this loop.
    await asyncio.to_thread(asyncio.run, simulate(plan, sink))
    cut = (
        -float("inf")
        if since is None
        else datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
    )
    return [(m.topic, m.payload) for m in sink.messages if m.at >= cut]


async def stored(database_url: str, months: Months, until: date, seconds: float) -> bool:
    """Whether ingest has stored every daily read and hourly weather reading up to ``until``."""
    days = months.days(until)
    wanted = {"smart_meter_readings": HOMES * days, "weather_readings": 24 * days}
    deadline = time.monotonic() + seconds
    async with await connect(database_url, autocommit=True) as conn:
        while True:
            counts = {}
            for table in wanted:
                cur = await conn.execute(
                    psycopg.sql.SQL(
                        "SELECT count(*) FROM {} WHERE device_id LIKE %s AND ts < %s"
                    ).format(psycopg.sql.Identifier(table)),
                    (f"{months.prefix}-%", datetime.combine(until, datetime.min.time(), UTC)),
                )
                row = await cur.fetchone()
                counts[table] = int(str(row[0])) if row else 0
            if counts == wanted:
                return True
            if time.monotonic() > deadline:
                print(f"  ingest stored {counts}, expected {wanted}")
                return False
            await asyncio.sleep(0.2)
