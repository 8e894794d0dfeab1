"""Device-health rules on the real change feed: a low battery, a data gap and a high quarantine
rate each open one alert, update it while active, and clear with hysteresis, received once by
email (a real SMTP server started by the test). Rules are per zone; devices that never report a
battery, or whose backlog fills their gap, raise nothing. The clock is the test's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.health import DeviceChecks
from alerts.service import AlertService, ServiceConfig
from delivery.channels import SmtpSender
from delivery.dispatch import Dispatcher
from devices.model import Reason
from devices.registry import Device, Zone, validate
from devices.types import DEVICE_TYPES
from storage import alerts as store
from storage.alerts import Rule
from storage.batch import Prepared, QuarantineRow
from storage.connection import Conn, Mode
from storage.registry import upsert, upsert_zones
from storage.writer import Store
from tests.smtp_server import Inbox, smtp_server

MIN = timedelta(minutes=1)


def _square(west: float) -> dict[str, object]:
    east = west + 0.1
    return {
        "type": "Polygon",
        "coordinates": [[[west, 51.5], [east, 51.5], [east, 51.6], [west, 51.6], [west, 51.5]]],
    }


WARD_1, WARD_2 = -0.15, -0.05
"""Longitudes inside the two wards."""


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _row(device: str, type_name: str, ts: datetime, **values: Any) -> tuple[object, ...]:
    columns = DEVICE_TYPES[type_name].columns
    return (device, ts, None, ts, *[values.get(c) for c in columns])


def _prepared(type_name: str, rows: Sequence[tuple[object, ...]]) -> Prepared:
    prepared = Prepared()
    prepared.rows[type_name] = list(rows)
    return prepared


async def _until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _setup(aconn: Conn, devices: Sequence[tuple[str, str, float]], rules: list[Rule]) -> None:
    await upsert_zones(
        aconn,
        [
            Zone("ward-1", "ward", "Ward One", _square(-0.2)),
            Zone("ward-2", "ward", "Ward Two", _square(-0.1)),
        ],
    )
    await upsert(
        aconn,
        [
            validate(Device(d, t, latitude=51.55, longitude=lon), DEVICE_TYPES)
            for d, t, lon in devices
        ],
    )
    await store.save_rules(aconn, rules)
    await store.subscribe(
        aconn, kinds=["device_health"], channels={"email": "fleet@camden.example"}, zone_id="ward-1"
    )


class Harness:
    """The service with DeviceChecks only, a writer, and a way to wait for each change."""

    def __init__(self, db: str, service: AlertService, writer: Store) -> None:
        self.db, self.service, self.writer = db, service, writer

    async def write(self, prepared: Prepared, changes: int = 1) -> None:
        before = self.service.stats.changes
        await self.writer.write(prepared)
        await _until(lambda: self.service.stats.changes >= before + changes)

    async def ticks(self, n: int = 2) -> None:
        """Until ``n`` more ticks ran (so one began after anything written before)."""
        target = self.service.stats.ticks + n
        await _until(lambda: self.service.stats.ticks >= target)


@contextlib.asynccontextmanager
async def _harness(db: str, inbox: Inbox, clock: Clock, tick_s: float) -> AsyncIterator[Harness]:
    service = AlertService(
        ServiceConfig(database_url=db, tick_s=tick_s),
        Dispatcher({"email": SmtpSender(inbox.url, "fleet@camden.example")}),
        [DeviceChecks(DEVICE_TYPES)],
        now=clock,
    )
    writer = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    task = asyncio.create_task(service.run())
    try:
        assert await service.wait_ready(30)
        yield Harness(db, service, writer)
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)
        await writer.close()


async def _history(aconn: Conn, rule_id: str, subject: str) -> list[tuple[str, str, float]]:
    (alert_id,) = [
        a.alert_id
        for a in await store.list_alerts(aconn)
        if (a.rule_id, a.subject) == (rule_id, subject)
    ]
    assert alert_id is not None
    return [(a, d["level"], d["value"]) for _, a, _, d in await store.events(aconn, alert_id)]


def _subjects(inbox: Inbox) -> list[str]:
    return [" ".join(m["Subject"].split()) for m in inbox.messages]


async def test_a_low_battery_opens_once_rises_to_critical_and_clears_above_its_margin(
    db: str, aconn: Conn
) -> None:
    await _setup(
        aconn,
        [("b1", "parking_bay", WARD_1), ("b2", "parking_bay", WARD_2), ("w1", "weather", WARD_1)],
        [
            Rule(
                "battery-w1",
                "low_battery",
                zone_id="ward-1",
                params={
                    "below_pct": 20,
                    "clear_margin_pct": 5,
                    "critical_pct": 10,
                    "clear_after_minutes": 5,
                },
            ),
            Rule("battery-w2", "low_battery", zone_id="ward-2", params={"below_pct": 4}),
        ],
    )
    t0 = datetime.now(UTC).replace(microsecond=0) - 30 * MIN
    clock = Clock(t0)
    with smtp_server() as inbox:
        async with _harness(db, inbox, clock, tick_s=3600) as h:

            async def bay(minute: int, b1: float, b2: float | None = None) -> None:
                clock.at = t0 + minute * MIN
                rows = [_row("b1", "parking_bay", clock.at, occupied=False, battery_pct=b1)]
                if b2 is not None:
                    rows.append(_row("b2", "parking_bay", clock.at, occupied=True, battery_pct=b2))
                await h.write(_prepared("parking_bay", rows))

            # Ward two's rule is 4%: its bay at 5% is fine; a weather station sends no battery.
            await bay(0, 30, b2=5)
            await h.write(_prepared("weather", [_row("w1", "weather", t0, temperature_c=4.0)]))
            assert await store.active_alerts(aconn) == []
            await bay(1, 18, b2=3)
            await _until(lambda: len(inbox.messages) == 1)
            for minute, pct in enumerate((21, 19, 9, 24, 26), start=2):  # wobbles, one alert
                await bay(minute, pct)
            await _until(lambda: len(inbox.messages) == 2)
            await bay(13, 27)  # clear since minute 6 for 7 minutes > 5: resolved
            await _until(lambda: len(inbox.messages) == 3)
    assert _subjects(inbox) == [
        "The battery of parking-bay sensor b1 is low at 18% (alerts start below 20%)",
        "Update: The battery of parking-bay sensor b1 is critically low at 9%",
        "Cleared: b1 is back to normal",
    ]
    assert await _history(aconn, "battery-w1", "b1") == [
        ("opened", "battery_low", 18.0),
        ("updated", "battery_low", 21.0),
        ("updated", "battery_low", 19.0),
        ("updated", "battery_critical", 9.0),
        ("updated", "battery_low", 24.0),
        ("updated", "battery_low", 24.0),  # 26 > 20 + 5: clear from now (hysteresis)
        ("resolved", "battery_low", 24.0),
    ]
    (active,) = await store.active_alerts(aconn)
    assert (active.rule_id, active.subject, active.zone_id, active.value) == (
        "battery-w2",
        "b2",
        "ward-2",
        3.0,
    )
    assert len(await store.list_alerts(aconn)) == 2  # none for w1, none for b2 under ward one


async def test_a_data_gap_opens_updates_as_it_slides_out_and_a_filled_backlog_raises_none(
    db: str, aconn: Conn
) -> None:
    params = {"min_completeness_pct": 75, "window_hours": 2, "clear_after_minutes": 10}
    await _setup(
        aconn,
        [("a1", "air_quality", WARD_1), ("a2", "air_quality", WARD_2)],
        [
            Rule("gap-w1", "data_gap", zone_id="ward-1", params={**params, "settle_minutes": 0}),
            Rule("gap-w2", "data_gap", zone_id="ward-2", params={**params, "settle_minutes": 15}),
        ],
    )
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - 60 * MIN
    clock = Clock(t0)

    def aq(device: str, minutes: Sequence[int]) -> list[tuple[object, ...]]:
        return [_row(device, "air_quality", t0 + m * MIN, no2=20.0) for m in minutes]

    with smtp_server() as inbox:
        async with _harness(db, inbox, clock, tick_s=3600) as h:
            # a1: every 5 minutes for two hours but for a hole from minute -115 to -60
            # (10 of 25 readings lost: 60%). a2: an hour's backlog, sent newest first.
            await h.write(
                _prepared(
                    "air_quality",
                    aq("a1", [-120, -115, *range(-60, 1, 5)]) + aq("a2", range(-120, -64, 5)),
                )
            )
            await h.write(_prepared("air_quality", aq("a2", [0])))
            await h.write(_prepared("air_quality", aq("a2", range(-60, 0, 5))))
            await _until(lambda: len(inbox.messages) == 1)
            for step in range(1, 9):  # both report on; the hole slides out of the window
                clock.at = t0 + 5 * step * MIN
                await h.write(_prepared("air_quality", aq("a1", [5 * step]) + aq("a2", [5 * step])))
            await _until(lambda: len(inbox.messages) == 2)
    assert _subjects(inbox) == [
        "Air-quality monitor a1 delivered only 60% of its readings in the last 2 hours (it should"
        " report every 5 minutes)",
        "Cleared: a1 is back to normal",
    ]
    assert await _history(aconn, "gap-w1", "a1") == [
        ("opened", "data_gap", 60.0),
        ("updated", "data_gap", 63.0),
        ("updated", "data_gap", 67.0),
        ("updated", "data_gap", 70.0),
        ("updated", "data_gap", 74.0),
        ("updated", "data_gap", 74.0),  # 78% at minute 30: clear from now
        ("resolved", "data_gap", 74.0),  # minute 40: clear for 10 minutes
    ]
    assert [a.subject for a in await store.list_alerts(aconn)] == ["a1"]


def _refused(device: str, at: datetime, n: int) -> QuarantineRow:
    return QuarantineRow(
        at,
        f"civicpulse/v1/devices/{device}/telemetry",
        device,
        -1,
        Reason.OUT_OF_RANGE,
        "temperature_c 99 is above 60",
        f'{{"n": {n}, "temperature_c": 99}}'.encode(),
    )


async def test_a_high_quarantine_rate_needs_its_minimum_count_and_clears_as_the_hour_passes(
    db: str, aconn: Conn
) -> None:
    await _setup(
        aconn,
        [("q1", "weather", WARD_1), ("q2", "weather", WARD_1)],
        [
            Rule(
                "quarantine",
                "quarantine_rate",
                params={
                    "max_share_pct": 10,
                    "min_quarantined": 5,
                    "window_minutes": 60,
                    "clear_after_minutes": 5,
                },
            )
        ],
    )
    t0 = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(t0)
    with smtp_server() as inbox:
        async with _harness(db, inbox, clock, tick_s=0.1) as h:
            first = Prepared(
                rows={
                    "weather": [
                        _row("q1", "weather", t0 - (50 - 2 * i) * MIN, temperature_c=5.0)
                        for i in range(20)
                    ]
                    + [_row("q2", "weather", t0 - 10 * MIN, temperature_c=5.0)]
                },
                quarantine=[_refused("q1", t0 - (40 - i) * MIN, i) for i in range(4)]
                + [_refused("q2", t0 - 9 * MIN, 0)],
            )
            await h.write(first)
            await h.ticks()  # 4 of 24 (17%), under the minimum count; q2: 1 of 2
            assert await store.active_alerts(aconn) == []
            await h.writer.write(Prepared(quarantine=[_refused("q1", t0 - MIN, 4)]))
            await _until(lambda: len(inbox.messages) == 1)
            await h.writer.write(
                Prepared(quarantine=[_refused("q1", t0 - MIN, 5 + i) for i in range(5)])
            )
            await _until(lambda: any(a.value == 33.0 for a in h.service.active.values()))
            clock.at = t0 + 61 * MIN  # all of it is more than an hour old
            await _until(lambda: all(a.below_since for a in h.service.active.values()))
            clock.at = t0 + 66 * MIN
            await _until(lambda: len(inbox.messages) == 2)
    assert _subjects(inbox) == [
        "5 of the 25 messages from weather station q1 in the last hour (20%) were refused at"
        " ingest and quarantined",
        "Cleared: q1 is back to normal",
    ]
    assert await _history(aconn, "quarantine", "q1") == [
        ("opened", "quarantine", 20.0),
        ("updated", "quarantine", 33.0),
        ("updated", "quarantine", 33.0),
        ("resolved", "quarantine", 33.0),
    ]
    assert [a.subject for a in await store.list_alerts(aconn)] == ["q1"]
