"""Messages a broker drops while ingest is away are reported when it comes back.

The test owns a real Mosquitto that keeps only 100 messages per offline session (a stock broker
keeps 1,000), publishes more than that while ingest is stopped, and checks what ingest says.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from civicpulse.embedded import EmbeddedBroker, find_mosquitto
from ingest.drops import DropRecord, account
from ingest.service import drops_key
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage import meta
from storage.connection import connect
from tests.ingest_harness import config, register, running, stored, wait_for

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")


def test_account_same_boot_restart_and_first_sample() -> None:
    first, report = account(None, dropped=5, uptime_s=100.0, now=1000.0)
    assert (report.dropped, report.since, first.boot) == (0, None, 900.0)
    later, report = account(first, dropped=305, uptime_s=400.0, now=1300.5)
    assert (report.dropped, report.since, report.restarted) == (300, 1000.0, False)
    assert later.boot == 900.0
    # Restarted at t=1500: its count began again; all 40 happened since.
    after, report = account(later, dropped=40, uptime_s=100.0, now=1600.0)
    assert (report.dropped, report.restarted, after.boot) == (40, True, 1500.0)
    assert DropRecord.from_json(after.to_json()) == after
    assert DropRecord.from_json({"dropped": "x"}) is None


async def test_drops_while_ingest_was_away_are_reported_once(
    db: str, workdir: Path, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ingest.service")
    broker = EmbeddedBroker(
        data_dir=workdir / "broker", prefer="mosquitto", max_queued_messages=100
    )
    fleet = Fleet.create(air_quality=1, parking_bay=1, smart_meter=1, prefix=prefix)
    await register(db, fleet)
    messages = list(fleet.messages(start=datetime.now(UTC) - timedelta(hours=5), count=300))
    cfg = config(db, "", session_expiry=600)
    with broker:
        cfg = config(db, broker.url, client_id=cfg.client_id, session_expiry=600)
        async with running(cfg) as ingest:
            # The record of the broker's count is made while ingest runs.
            await wait_for(lambda: ingest.metrics.broker_dropped is not None, seconds=15)
        await asyncio.to_thread(publish_all, broker.url, messages)  # ingest is away
        async with running(cfg) as ingest:
            await wait_for(lambda: sum(stored(db, prefix).values()) >= 100, seconds=30)
            await wait_for(lambda: ingest.metrics.broker_dropped_while_away > 0, seconds=15)
            assert ingest.metrics.broker_dropped_while_away == 200
        # What the session held is stored; what the broker dropped is gone, and was said so.
        assert sum(stored(db, prefix).values()) == 100
        assert "the broker dropped 200 messages while ingest was away since" in caplog.text
        # Another process of the deployment does not report the same drops again.
        caplog.clear()
        async with running(cfg) as ingest:
            await asyncio.sleep(5)  # two $SYS intervals: a second report would have come
            assert ingest.metrics.broker_dropped_while_away == 0
        assert "while ingest was away" not in caplog.text
        async with await connect(db) as conn:
            record = DropRecord.from_json(await meta.get(conn, drops_key(broker.url)))
        assert record is not None and record.dropped == 200
