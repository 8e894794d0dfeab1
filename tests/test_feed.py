"""The change feed: committed readings are announced once, redeliveries and rollbacks never."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from civicpulse.errors import StorageError
from devices.model import StatusChange
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Mode
from storage.feed import Change, Feed, Gap, feed_payloads, parse_payload
from storage.writer import Store

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _bays(*device_ids: str, at: datetime = T0) -> Prepared:
    columns = DEVICE_TYPES["parking_bay"].columns
    prepared = Prepared()
    prepared.rows["parking_bay"] = [
        (d, at + timedelta(seconds=i), i, at, *[True if c == "occupied" else None for c in columns])
        for i, d in enumerate(device_ids)
    ]
    return prepared


async def _next_change(feed: Feed, seconds: float = 5) -> Change | None:
    try:
        while True:
            item = await asyncio.wait_for(feed.get(), seconds)
            if isinstance(item, Change):
                return item
    except TimeoutError:
        return None


async def test_committed_readings_are_announced_once(db: str) -> None:
    feed = Feed(db)
    await feed.start()
    assert isinstance(await feed.get(), Gap)  # a listener starts by catching up
    store = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await store.write(_bays("bay-1", "bay-2"))
        change = await _next_change(feed)
        assert change is not None
        assert (change.device_type, change.device_ids) == ("parking_bay", ("bay-1", "bay-2"))
        assert (change.first_ts, change.last_ts) == (T0, T0 + timedelta(seconds=1))
        await store.write(_bays("bay-1", "bay-2"))  # a redelivery stores nothing: no news
        assert await _next_change(feed, seconds=1) is None
        statuses = Prepared(statuses=[StatusChange("bay-3", False, T0)])
        await store.write(statuses)
        change = await _next_change(feed)
        assert change is not None and (change.device_type, change.device_ids) == (
            "status",
            ("bay-3",),
        )
    finally:
        await store.close()
        await feed.close()


async def test_a_rolled_back_batch_is_never_announced(db: str) -> None:
    feed = Feed(db)
    await feed.start()
    await feed.get()
    store = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
    try:
        bad = _bays("bay-9")
        bad.rows["parking_bay"].append((None, T0, 1, T0, True, None, None))  # NOT NULL violated
        with pytest.raises(StorageError, match="null value") as refused:
            await store.write(bad)
        assert refused.value.rejected  # the data, not the database: ingest quarantines it
        assert await _next_change(feed, seconds=1) is None
    finally:
        await store.close()
        await feed.close()


def test_payloads_fit_a_notification_and_round_trip() -> None:
    ids = [f"bay-{i:06d}" for i in range(3000)]
    payloads = list(feed_payloads("parking_bay", ids, T0, T0))
    assert len(payloads) > 1 and all(len(p) <= 7000 for p in payloads)
    back = [parse_payload(p) for p in payloads]
    assert [d for c in back if c is not None for d in c.device_ids] == ids
    assert parse_payload("{not json") is None
