"""The quarantine listed, summarised and replayed: pure replay decisions, then the command line on
real PostgreSQL (and TimescaleDB where available), from messages that ingest refused."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.rows import dict_row

from devices.contract import Limits, status_topic, telemetry_topic
from devices.model import DeviceType, Reason
from devices.types import DEVICE_TYPES
from ingest.prepare import InMessage, prepare
from ingest.replay import STATUS_RELATION, Plan, judge, plan
from simulators.fleet import Fleet
from simulators.publisher import publish_all
from storage.batch import Prepared, QuarantineRow
from storage.connection import Mode, connect
from storage.migrate import migrate
from storage.quarantine import Key, QuarantinedRow
from storage.registry import device_types
from storage.writer import Store
from tests.conftest import TIMESCALEDB_SERVER, create_database, drop_database, needs_timescaledb
from tests.ingest_harness import config, running, wait_for

AQ = DEVICE_TYPES["air_quality"]
AQ_TYPES = {"air_quality": AQ}
NOW = datetime.now(UTC).replace(microsecond=0)


def civicpulse(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CIVICPULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "civicpulse.cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(*args: str, db: str) -> list[str]:
    """Run a command that must succeed; its output lines."""
    result = civicpulse(*args, env={"CIVICPULSE_DATABASE_URL": db})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def reading(ts: datetime, **values: float) -> dict[str, object]:
    return {"ts": iso(ts), **values}


def arrive(
    db: str, messages: Sequence[tuple[str, bytes, datetime]], mode: Mode = Mode.POSTGRES
) -> None:
    """Store messages as ingest does when they arrive, with the registry as it is now."""

    async def run() -> None:
        async with await connect(db, autocommit=True) as conn:
            known = {i: DEVICE_TYPES[t] for i, t in await device_types(conn)}
        batch = prepare(
            [InMessage(t, p, 0, 1, 0, at.timestamp()) for t, p, at in messages],
            known.get,
            Limits(),
            DEVICE_TYPES,
        )
        store = await Store.open(db, mode, DEVICE_TYPES)
        try:
            await store.write(batch)
        finally:
            await store.close()

    asyncio.run(run())


def quarantine(db: str) -> list[dict[str, object]]:
    with psycopg.connect(db, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM quarantine ORDER BY id").fetchall()


def scalar(db: str, query: str, *params: object) -> object:
    with psycopg.connect(db) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def outcomes(lines: list[str]) -> dict[int, str]:
    """Row id to outcome, from `quarantine replay`'s table."""
    return {int(c[0]): c[-1] for c in (line.split("\t") for line in lines[1:-1])}


# --- the pure core ------------------------------------------------------------------------------


def row(
    payload: bytes,
    received_at: datetime,
    *,
    row_id: int = 1,
    item: int = -1,
    topic: str = telemetry_topic("aq-1"),
) -> QuarantinedRow:
    return QuarantinedRow(
        row_id, received_at, received_at, 1, topic, "aq-1", item, "unknown_device", "-", payload, 0
    )


def registered(device_id: str) -> DeviceType | None:
    return AQ if device_id == "aq-1" else None


def test_replay_judges_timestamps_as_of_arrival() -> None:
    arrived = NOW - timedelta(days=450)  # older than max_age today; not when it arrived
    old_payload = orjson.dumps(reading(arrived - timedelta(hours=1), pm25=9.0))
    old = plan(
        row(old_payload, arrived),
        registered,
        Limits(),
        DEVICE_TYPES,
    )
    assert old.rejection is None
    assert old.keys == (("air_quality_readings", "aq-1", arrived - timedelta(hours=1)),)
    today = plan(
        dataclasses.replace(row(b"", NOW), payload=old_payload), registered, Limits(), DEVICE_TYPES
    )
    assert today.rejection is not None
    assert today.rejection.reason is Reason.TIMESTAMP_TOO_OLD  # had it been decoded now
    ahead = plan(
        row(orjson.dumps(reading(arrived + timedelta(days=1), pm25=9.0)), arrived),
        registered,
        Limits(),
        DEVICE_TYPES,
    )
    assert ahead.rejection is not None
    assert ahead.rejection.reason is Reason.TIMESTAMP_IN_FUTURE  # in the past now; not then
    assert judge([ahead], set())[0].text().startswith("still rejected: timestamp_in_future: ts ")


def test_a_reading_without_ts_gets_its_arrival_to_the_microsecond() -> None:
    arrived = NOW.replace(microsecond=123457) - timedelta(minutes=3)
    replayed = plan(row(b'{"no2": 40}', arrived), registered, Limits(), DEVICE_TYPES)
    assert replayed.keys == (("air_quality_readings", "aq-1", arrived),)
    assert replayed.prepared.rows["air_quality"][0][3] == arrived  # received_at column


def test_a_batch_with_a_bad_item_stores_the_rest_and_splits_the_item() -> None:
    arrived = NOW - timedelta(hours=2)
    items = [
        reading(arrived - timedelta(minutes=2), pm25=5.0),
        reading(arrived - timedelta(minutes=1), pm25=5000.0),
        reading(arrived, pm25=6.0),
    ]
    replayed = plan(row(orjson.dumps(items), arrived, row_id=7), registered, Limits(), DEVICE_TYPES)
    assert replayed.rejection is None
    assert len(replayed.keys) == 2
    (item,) = replayed.split
    assert (item.item, item.reason, item.received_at) == (1, Reason.OUT_OF_RANGE, arrived)
    assert orjson.loads(item.payload) == items[1]
    first, again = judge([replayed, replayed], {replayed.keys[0]})
    assert first.text() == (
        "stored 1 reading; 1 already stored; quarantined item 1 on its own: out_of_range:"
        " pm25=5000.0 is outside 0.0..1000.0 µg/m³"
    )
    assert again.text().startswith("already stored; quarantined item 1")
    assert first.mark().reason is None  # done: the item has a row of its own now
    dry = judge([replayed], set())[0].text(dry_run=True)
    assert dry.startswith("would store 2 readings; would quarantine item 1 on its own")


def test_a_batch_item_replays_as_a_one_reading_message() -> None:
    arrived = NOW - timedelta(hours=1)
    item = plan(
        row(orjson.dumps(reading(arrived, pm25=3.0)), arrived, item=4),
        registered,
        Limits(),
        AQ_TYPES,
    )
    assert (item.rejection, len(item.keys), item.split) == (None, 1, ())
    not_an_object = plan(row(b"[1, 2]", arrived, item=4), registered, Limits(), AQ_TYPES)
    assert not_an_object.rejection is not None
    assert not_an_object.rejection.reason is Reason.BAD_STRUCTURE
    assert not_an_object.keys == ()


def test_status_and_still_unknown_devices() -> None:
    arrived = NOW - timedelta(hours=1)
    status = plan(
        row(b"online", arrived, topic=status_topic("aq-1")), registered, Limits(), DEVICE_TYPES
    )
    assert status.keys == ((STATUS_RELATION, "aq-1", arrived),)
    assert judge([status], set())[0].text() == "stored 1 status change"
    # The writer keeps only changes: absent after the write means the state was known already.
    assert judge([status], set(), set())[0].text() == "already stored"
    unknown = plan(row(b'{"pm25": 1}', arrived), lambda _id: None, Limits(), DEVICE_TYPES)
    outcome = judge([unknown], set())[0]
    assert outcome.text() == "still rejected: unknown_device: device 'aq-1' is not registered"
    assert outcome.mark().reason == "unknown_device"
    assert unknown.prepared == Prepared()


@given(
    st.lists(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 5)), max_size=4), max_size=6),
    st.sets(st.tuples(st.sampled_from("ab"), st.integers(0, 5))),
)
def test_judging_twice_counts_each_key_once(
    batches: list[list[tuple[str, int]]], stored: set[tuple[str, int]]
) -> None:
    def key(device: str, minute: int) -> Key:
        return ("air_quality_readings", device, NOW + timedelta(minutes=minute))

    plans = [
        Plan(i, Prepared(), tuple(key(*k) for k in keys), (), None, "reading")
        for i, keys in enumerate(batches)
    ]
    before = {key(*k) for k in stored}
    everything = before | {k for p in plans for k in p.keys}
    first = judge(plans, before)
    assert sum(o.stored for o in first) == len(everything - before)
    assert sum(o.stored + o.already for o in first) == sum(len(p.keys) for p in plans)
    assert all(o.stored == 0 for o in judge(plans, everything))  # the second replay


# --- the command line on a real database --------------------------------------------------------


def test_replay_after_registering_stores_each_reading_once(db: str, prefix: str) -> None:
    device = f"{prefix}-aq"
    t0 = NOW - timedelta(hours=3)
    topic = telemetry_topic(device)
    batch = [reading(t0, pm25=11.0), reading(t0 + timedelta(minutes=1), pm25=5000.0)]
    batch.append(reading(t0 + timedelta(minutes=2), pm25=12.0))
    no_ts_at = t0 + timedelta(minutes=9, microseconds=123457)
    arrive(
        db,
        [
            (topic, orjson.dumps(reading(t0 - timedelta(minutes=5), pm25=10.0)), t0),
            (topic, orjson.dumps(batch), t0 + timedelta(minutes=3)),
            # Its ts is a day after its arrival: in the past today, in the future then.
            (
                topic,
                orjson.dumps(reading(t0 + timedelta(days=1), pm25=3.0)),
                t0 + timedelta(minutes=5),
            ),
            (status_topic(device), b"online", t0 + timedelta(minutes=7)),
            (topic, b'{"no2": 40.5}', no_ts_at),
        ],
    )
    rows = quarantine(db)
    assert [r["reason"] for r in rows] == ["unknown_device"] * 5
    single, whole_batch, future, status, no_ts = (int(str(r["id"])) for r in rows)

    summary = ok("quarantine", "summary", db=db)
    assert summary[0].startswith("5 rows, 5 deliveries, 5 pending")
    assert "unknown_device\t5\t5\t5\t" in "\n".join(summary)
    assert f"{device}\t5\t5\t5\t" in "\n".join(summary)

    ok("devices", "add", device, "--type", "air_quality", db=db)
    dry = ok("quarantine", "replay", "--dry-run", db=db)
    assert outcomes(dry)[single] == "would store 1 reading"
    assert dry[-1] == (
        "# dry run, nothing written: 5 rows would store 4 readings and 1 status change;"
        " 1 item would be quarantined on its own; 1 row still rejected"
    )
    assert scalar(db, "SELECT count(*) FROM air_quality_readings") == 0
    assert scalar(db, "SELECT count(*) FROM quarantine WHERE replayed_at IS NOT NULL") == 0

    first = ok("quarantine", "replay", db=db)
    assert first[-1] == (
        "# replayed 5 rows: stored 4 readings and 1 status change;"
        " 1 item quarantined on its own; 1 row still rejected"
    )
    said = outcomes(first)
    assert said[single] == "stored 1 reading"
    assert said[whole_batch].startswith(
        "stored 2 readings; quarantined item 1 on its own: out_of_range: pm25=5000.0"
    )
    assert said[future].startswith("still rejected: timestamp_in_future: ts ")
    assert said[status] == "stored 1 status change"
    assert said[no_ts] == "stored 1 reading"
    assert scalar(db, "SELECT count(*) FROM air_quality_readings") == 4
    assert scalar(db, "SELECT ts FROM air_quality_readings WHERE no2 = 40.5") == no_ts_at
    assert scalar(db, "SELECT online FROM device_status WHERE device_id = %s", device) is True

    by_id = {int(str(r["id"])): r for r in quarantine(db)}
    assert len(by_id) == 6  # marked, never deleted; plus the refused item on its own
    for done in (single, whole_batch, status, no_ts):
        assert by_id[done]["replayed_at"] is not None
        assert by_id[done]["replay_reason"] is None
        assert by_id[done]["reason"] == "unknown_device"  # why it was refused on arrival stays
    assert by_id[future]["replay_reason"] == "timestamp_in_future"
    assert str(by_id[future]["replay_outcome"]).startswith("still rejected: timestamp_in_future:")
    (item,) = (r for i, r in by_id.items() if i > no_ts)
    assert (item["item"], item["reason"], item["replayed_at"]) == (1, "out_of_range", None)
    assert item["received_at"] == t0 + timedelta(minutes=3)
    assert isinstance(item["payload"], bytes)
    assert orjson.loads(item["payload"]) == batch[1]

    # Again: only the rows still refused are pending, and they are refused still.
    second = ok("quarantine", "replay", db=db)
    assert second[-1] == "# replayed 2 rows: stored nothing new; 2 rows still rejected"
    # And everything again, replayed or not: nothing is stored twice, and it says so.
    again = ok("quarantine", "replay", "--again", db=db)
    assert outcomes(again)[single] == "already stored"
    assert outcomes(again)[status] == "already stored"
    assert again[-1].startswith("# replayed 6 rows: stored nothing new; 5 already stored;")
    assert scalar(db, "SELECT count(*) FROM air_quality_readings") == 4
    assert scalar(db, "SELECT count(*) FROM quarantine") == 6
    assert scalar(db, "SELECT readings FROM device_last_seen WHERE device_id = %s", device) == 4
    assert scalar(db, "SELECT sum(samples) FROM air_quality_hourly") == 4

    summary = ok("quarantine", "summary", db=db)
    text = "\n".join(summary)
    assert summary[0].startswith("6 rows, 6 deliveries, 2 pending")
    assert "unknown_device\t4\t4\t0\t" in text  # by the reason as of the last replay
    assert "timestamp_in_future\t1\t1\t1\t" in text
    assert "out_of_range\t1\t1\t1\t" in text
    pending = ok("quarantine", "list", "--state", "pending", db=db)
    assert len(pending) == 4  # header, two rows, the count
    assert "\ttimestamp_in_future (was unknown_device)\t" in pending[1]  # arrived last
    assert "\tout_of_range\t" in pending[2]
    assert pending[-1] == "# 2 of 2 matching rows"


def test_nothing_pending_says_so(db: str, prefix: str) -> None:
    device = f"{prefix}-aq"
    arrive(db, [(telemetry_topic(device), b'{"pm25": 4}', NOW - timedelta(minutes=1))])
    ok("devices", "add", device, "--type", "air_quality", db=db)
    assert ok("quarantine", "replay", db=db)[-1] == "# replayed 1 row: stored 1 reading"
    assert ok("quarantine", "replay", db=db) == [
        "nothing to replay: no pending row matches; 1 matching row replayed already"
        " (--again replays them; nothing is stored twice)"
    ]
    assert ok("quarantine", "replay", "--reason", "bad_json", db=db) == [
        "nothing to replay: no pending row matches"
    ]


def test_readings_the_device_sent_again_are_already_stored(db: str, prefix: str) -> None:
    """The device re-sent its backlog after it was registered (or a replay was stopped after its
    write): the row is marked done, and nothing is stored twice."""
    device = f"{prefix}-aq"
    message = (telemetry_topic(device), orjson.dumps(reading(NOW, pm25=4.0)), NOW)
    arrive(db, [message])
    ok("devices", "add", device, "--type", "air_quality", db=db)
    arrive(db, [message])
    assert scalar(db, "SELECT count(*) FROM air_quality_readings") == 1
    replayed = ok("quarantine", "replay", db=db)
    assert replayed[1].endswith("\tunknown_device\talready stored")
    assert replayed[-1] == "# replayed 1 row: stored nothing new; 1 already stored"
    assert scalar(db, "SELECT count(*) FROM air_quality_readings") == 1
    assert scalar(db, "SELECT replay_outcome FROM quarantine") == "already stored"


def test_a_decoder_error_replays_once_the_codec_is_fixed(db: str, prefix: str) -> None:
    device = f"{prefix}-aq"
    ok("devices", "add", device, "--type", "air_quality", db=db)
    arrived = NOW - timedelta(minutes=30)
    payload = orjson.dumps(reading(arrived, pm25=8.0))

    async def crashed() -> None:  # what prepare() quarantines when a codec raises
        store = await Store.open(db, Mode.POSTGRES, DEVICE_TYPES)
        refused = Prepared()
        refused.quarantine.append(
            QuarantineRow(
                arrived,
                telemetry_topic(device),
                device,
                -1,
                Reason.DECODER_ERROR,
                "KeyError: 'pm25'",
                payload,
            )
        )
        try:
            await store.write(refused)
        finally:
            await store.close()

    asyncio.run(crashed())
    replayed = ok("quarantine", "replay", "--reason", "decoder_error", "--device", device, db=db)
    assert replayed[-1] == "# replayed 1 row: stored 1 reading"
    assert scalar(db, "SELECT pm25 FROM air_quality_readings WHERE device_id = %s", device) == 8.0


def test_list_filters_limits_and_payloads(db: str, prefix: str) -> None:
    a, b = f"{prefix}-a", f"{prefix}-b"
    day1, day2 = NOW - timedelta(days=2), NOW - timedelta(days=1)
    arrive(
        db,
        [
            (telemetry_topic(a), b'{"pm25": 1}', day1),
            (telemetry_topic(a), b'{"pm25": 2}', day2),
            (telemetry_topic(b), b"not json\tat all", day2 + timedelta(minutes=1)),
            ("civicpulse/v1/elsewhere", b"{}", day2 + timedelta(minutes=2)),
        ],
    )
    listed = ok("quarantine", "list", db=db)
    assert (
        listed[0] == "id\treceived_at\tdeliveries\tdevice/channel\titem\treason\tdetail\treplayed"
    )
    assert [line.split("\t")[3] for line in listed[1:-1]] == [
        "civicpulse/v1/elsewhere",
        f"{b}/telemetry",
        f"{a}/telemetry",
        f"{a}/telemetry",
    ]  # newest first
    assert listed[-1] == "# 4 of 4 matching rows"
    assert len(ok("quarantine", "list", "--device", a, db=db)) == 4
    assert ok("quarantine", "list", "--reason", "bad_topic", db=db)[-1] == "# 1 of 1 matching row"
    since = ok("quarantine", "list", "--since", iso(day2), db=db)
    assert since[-1] == "# 3 of 3 matching rows"
    until = ok("quarantine", "list", "--until", iso(day2), "--device", a, db=db)
    assert until[-1] == "# 1 of 1 matching row"
    assert ok("quarantine", "list", "--since", "36h", db=db)[-1] == "# 3 of 3 matching rows"
    assert ok("quarantine", "list", "--limit", "2", db=db)[-1] == (
        "# 2 of 4 matching rows; --limit shows more"
    )
    shown = ok("quarantine", "list", "--payload", "--device", b, db=db)
    assert shown[0].endswith("\tpayload")
    assert shown[1].split("\t")[-1] == "not json\\tat all"  # one line per row, one tab per column
    summary = ok("quarantine", "summary", "--top", "1", db=db)
    text = "\n".join(summary)
    assert (
        f"# by device (top 1 of 3)\ndevice\trows\tdeliveries\tpending\tfirst_seen\tlast_seen\n{a}\t2\t"
        in text
    )
    days = [day1, day2, day2 + timedelta(minutes=1), day2 + timedelta(minutes=2)]
    for day in sorted({d.date() for d in days}):
        n = sum(d.date() == day for d in days)
        assert f"\n{day.isoformat()}\t{n}\t{n}\t{n}\t" in text
    assert ok("quarantine", "summary", "--reason", "bad_seq", db=db) == [
        "no quarantined rows match"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--reason", "nonsense"), "--reason: 'nonsense' is not a quarantine reason"),
        (("replay", "--since", "yesterday"), "--since: 'yesterday' is neither an ISO 8601"),
        (("list", "--since", "2d", "--until", "3d"), "--until: must be later than --since"),
        (("list", "--limit", "0"), "--limit: must be at least 1, got 0"),
        (("replay", "--limit", "-3"), "--limit: must be at least 1, got -3"),
    ],
)
def test_mistakes_get_one_line(db: str, args: tuple[str, ...], message: str) -> None:
    result = civicpulse("quarantine", *args, env={"CIVICPULSE_DATABASE_URL": db})
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"civicpulse: {message}")


def test_an_unmigrated_database_says_what_to_do(empty_db: str) -> None:
    for task in ("replay", "list", "summary"):
        result = civicpulse("quarantine", task, env={"CIVICPULSE_DATABASE_URL": empty_db})
        assert result.returncode == 2, result.stderr
        assert "run `civicpulse db migrate`" in result.stderr
        assert "Traceback" not in result.stderr
    unset = civicpulse("quarantine", "summary")
    assert unset.returncode == 2
    assert "CIVICPULSE_DATABASE_URL: not set" in unset.stderr


def test_messages_ingest_refused_replay_through_the_command(
    db: str, mqtt_url: str, prefix: str
) -> None:
    """The user's path: devices publish before they are registered, ingest quarantines them."""
    fleet = Fleet.create(air_quality=2, parking_bay=1, smart_meter=0, prefix=prefix)
    start = NOW - timedelta(hours=1)
    messages = list(fleet.messages(start=start, count=3 * 8))

    async def publish_unregistered() -> None:
        async with running(config(db, mqtt_url)):
            await asyncio.to_thread(publish_all, mqtt_url, messages, client_id=f"{prefix}-pub")
            await wait_for(lambda: scalar(db, ours, f"{prefix}-%") == 24)

    ours = "SELECT count(*) FROM quarantine WHERE device_id LIKE %s AND reason = 'unknown_device'"
    asyncio.run(publish_unregistered())
    # A shared broker also hands ingest the retained statuses of other tests' devices.
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM quarantine WHERE device_id NOT LIKE %s", (f"{prefix}-%",))
    for d in fleet.devices:
        ok("devices", "add", d.device_id, "--type", d.device_type, db=db)
    first = ok("quarantine", "replay", db=db)
    assert first[-1] == "# replayed 24 rows: stored 24 readings"
    assert ok("quarantine", "replay", db=db)[-1].startswith("nothing to replay")
    assert ok("quarantine", "replay", "--again", db=db)[-1] == (
        "# replayed 24 rows: stored nothing new; 24 already stored"
    )
    stored = scalar(
        db,
        "SELECT (SELECT count(*) FROM air_quality_readings) + (SELECT count(*) FROM"
        " parking_bay_readings)",
    )
    assert stored == 24


@needs_timescaledb
def test_replay_into_hypertables_brings_materialised_rollups_up_to_date(prefix: str) -> None:
    assert TIMESCALEDB_SERVER is not None
    db = create_database(TIMESCALEDB_SERVER)
    try:
        assert asyncio.run(migrate(db, timescaledb="on")).mode is Mode.TIMESCALEDB
        early, other = f"{prefix}-early", f"{prefix}-other"
        ok("devices", "add", other, "--type", "air_quality", db=db)
        hours_ago = NOW.replace(minute=0, second=0) - timedelta(hours=6)
        arrive(
            db,
            [
                (
                    telemetry_topic(early),
                    orjson.dumps(reading(hours_ago + timedelta(minutes=m), pm25=m)),
                    hours_ago + timedelta(minutes=m),
                )
                for m in range(10, 13)
            ]
            + [(telemetry_topic(other), b'{"pm25": 1}', NOW - timedelta(hours=2))],
            Mode.TIMESCALEDB,
        )
        # Materialise the past hours: rows replayed into them are invisible until refreshed.
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(
                "CALL refresh_continuous_aggregate('air_quality_hourly', NULL, %s)",
                (NOW - timedelta(hours=1),),
            )
        ok("devices", "add", early, "--type", "air_quality", db=db)
        assert ok("quarantine", "replay", db=db)[-1] == "# replayed 3 rows: stored 3 readings"
        assert ok("quarantine", "replay", "--again", db=db)[-1].endswith("3 already stored")
        assert (
            scalar(db, "SELECT count(*) FROM air_quality_readings WHERE device_id = %s", early) == 3
        )
        samples = "SELECT sum(samples) FROM air_quality_hourly WHERE device_id = %s"
        assert scalar(db, samples, early) == 3
    finally:
        drop_database(TIMESCALEDB_SERVER, db)
