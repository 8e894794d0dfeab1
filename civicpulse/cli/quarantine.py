"""``civicpulse quarantine summary|list|replay``: what ingest refused, and giving it back.

``replay`` decodes rows again with today's codecs, registry and limits (``ingest.replay``), stores
what now decodes, and marks each row with what became of it (docs/operations.md, "Replaying the
quarantine").
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from civicpulse.errors import UsageError
from civicpulse.settings import Settings

if TYPE_CHECKING:
    from devices.contract import Limits
    from ingest.replay import Outcome, Plan
    from storage.quarantine import Group, QuarantinedRow, Selection, State
    from storage.writer import Store

logger = logging.getLogger(__name__)

_CHUNK = 500
"""Rows decoded, written and marked together: one write transaction and one marking per chunk."""
_EXCERPT = 200
_AGE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tasks = sub.add_parser(
        "quarantine", help="list, summarise and replay the messages ingest refused"
    ).add_subparsers(metavar="task")
    p = tasks.add_parser("summary", help="counts by reason, device and day")
    _filters(p, state=True)
    p.add_argument("--top", type=int, default=10, help="devices to show (default 10)")
    p.set_defaults(run=_summary)
    p = tasks.add_parser("list", help="quarantined rows, newest first")
    _filters(p, state=True)
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    p.add_argument(
        "--payload", action="store_true", help=f"show the first {_EXCERPT} bytes of each payload"
    )
    p.set_defaults(run=_list)
    p = tasks.add_parser(
        "replay",
        help="decode pending rows again with today's codecs and registry; store what decodes",
    )
    _filters(p, state=False)
    p.add_argument("--limit", type=int, help="replay at most this many rows (default: all)")
    p.add_argument(
        "--again",
        action="store_true",
        help="also replay rows replayed before (their readings are not stored twice)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="show what would be stored; write nothing"
    )
    p.set_defaults(run=_replay)


def _filters(p: argparse.ArgumentParser, *, state: bool) -> None:
    p.add_argument("--reason", help="refused for this reason, on arrival or at the last replay")
    p.add_argument("--device", help="this device id")
    p.add_argument("--since", help="arrived at or after: 2026-11-30, 2026-11-30T08:00Z, or 12h, 7d")
    p.add_argument("--until", help="arrived before (same forms as --since)")
    if state:
        p.add_argument(
            "--state",
            choices=("pending", "replayed", "all"),
            default="all",
            help="pending: never replayed or still rejected (default: all)",
        )


# --- summary and list ---------------------------------------------------------------------------


def _summary(settings: Settings, args: argparse.Namespace) -> int:
    from storage.connection import connect
    from storage.quarantine import summarize

    selection = _selection(args, args.state)
    top = _at_least_one("--top", args.top)

    async def run() -> None:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            summary = await summarize(conn, selection, top=top)
        total = summary.total
        if total is None:
            print(
                "no quarantined rows match" if _filtered(selection) else "the quarantine is empty"
            )
            return
        print(
            f"{_count(total.rows, 'row')}, {total.deliveries} deliveries, {total.pending} pending"
            f" (never replayed, or still rejected); first seen {_when(total.first_seen)},"
            f" last seen {_when(total.last_seen)}"
        )
        _groups("# by reason (as of the last replay)", "reason", summary.by_reason)
        heading = f"# by device (top {len(summary.by_device)} of {summary.devices})"
        _groups(heading, "device", summary.by_device)
        _groups("# by day of arrival (UTC)", "day", summary.by_day)

    asyncio.run(run())
    return 0


def _groups(heading: str, key: str, groups: tuple[Group, ...]) -> None:
    print(heading)
    print(f"{key}\trows\tdeliveries\tpending\tfirst_seen\tlast_seen")
    for g in groups:
        print(
            f"{g.key or '-'}\t{g.rows}\t{g.deliveries}\t{g.pending}"
            f"\t{_when(g.first_seen)}\t{_when(g.last_seen)}"
        )


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from storage.connection import connect
    from storage.quarantine import list_rows

    selection = _selection(args, args.state)
    limit = _at_least_one("--limit", args.limit)

    async def run() -> None:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            page = await list_rows(
                conn, selection, limit=limit, excerpt=_EXCERPT if args.payload else 0
            )
        header = "id\treceived_at\tdeliveries\tdevice/channel\titem\treason\tdetail\treplayed"
        print(header + ("\tpayload" if args.payload else ""))
        for row in page.rows:
            reason = row.reason
            if row.replay_reason is not None and row.replay_reason != row.reason:
                reason = f"{row.replay_reason} (was {row.reason})"
            replayed = "-"
            if row.replayed_at is not None:
                replayed = f"{_when(row.replayed_at)} {row.replay_outcome}"
            cells = [
                str(row.id),
                _when(row.received_at),
                str(row.deliveries),
                _topic(row.topic),
                _item(row.item),
                reason,
                row.detail,
                replayed,
            ]
            if args.payload:
                cells.append(_excerpt(row.payload, row.payload_size))
            print("\t".join(_cell(c) for c in cells))
        more = "; --limit shows more" if page.total > len(page.rows) else ""
        print(f"# {len(page.rows)} of {_count(page.total, 'matching row')}{more}")

    asyncio.run(run())
    return 0


# --- replay -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    rows: int = 0
    readings: int = 0
    statuses: int = 0
    already: int = 0
    split: int = 0
    rejected: int = 0
    replayed_before: int = 0
    """When nothing was pending: matching rows an earlier replay already did."""

    def add(self, outcome: Outcome) -> None:
        self.rows += 1
        if outcome.noun == "reading":
            self.readings += outcome.stored
        else:
            self.statuses += outcome.stored
        self.already += outcome.already
        self.split += len(outcome.split)
        self.rejected += 0 if outcome.resolved else 1


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.service import limits_from

    selection = _selection(args, "all" if args.again else "pending")
    limit = None if args.limit is None else _at_least_one("--limit", args.limit)
    limits = limits_from(
        max_payload_bytes=settings.max_payload_bytes,
        max_batch_items=settings.max_batch_items,
        max_future_skew_s=settings.max_future_skew_s,
        max_age_days=settings.max_age_days,
    )
    tally = asyncio.run(
        _replay_rows(
            settings.require_database_url(),
            selection,
            limit=limit,
            limits=limits,
            dry_run=args.dry_run,
        )
    )
    print(_report(tally, dry_run=args.dry_run))
    return 0


async def _replay_rows(
    url: str, selection: Selection, *, limit: int | None, limits: Limits, dry_run: bool
) -> _Tally:
    """Replay the selected rows chunk by chunk: decode, write, then mark what each row did.

    Readings are committed before their rows are marked. A replay stopped in between leaves the
    rows pending; the next one finds their readings stored and marks them ``already stored``.
    """
    from civicpulse.errors import SchemaError
    from devices.contract import parse_topic
    from devices.types import DEVICE_TYPES
    from ingest.replay import judge, plan
    from storage import quarantine
    from storage.connection import Mode, connect, server_info
    from storage.errors import MIGRATE_HINT
    from storage.registry import device_types
    from storage.rollups import TouchedBuckets, refresh_rollups
    from storage.writer import Store

    tally = _Tally()
    touched = TouchedBuckets()
    at = datetime.now(UTC)
    async with await connect(url, autocommit=True) as conn:
        mode = (await server_info(conn)).mode
        if mode is None:
            raise SchemaError("replay the quarantine", "no schema yet", hint=MIGRATE_HINT)
        store = None if dry_run else await Store.open(url, mode, DEVICE_TYPES)
        try:
            # Rows this replay quarantines (refused items of a split message) come after it.
            up_to = await quarantine.newest_id(conn)
            after = 0
            while limit is None or tally.rows < limit:
                size = _CHUNK if limit is None else min(_CHUNK, limit - tally.rows)
                rows = await quarantine.rows_to_replay(
                    conn, selection, after_id=after, up_to_id=up_to, limit=size
                )
                if not rows:
                    break
                if not tally.rows:
                    print("id\treceived_at\tdevice/channel\titem\treason\toutcome")
                after = rows[-1].id
                ids = sorted({p[0] for p in map(parse_topic, (r.topic for r in rows)) if p})
                known = {
                    device_id: DEVICE_TYPES[name]
                    for device_id, name in await device_types(conn, ids)
                    if name in DEVICE_TYPES
                }
                plans = [plan(r, known.get, limits, DEVICE_TYPES) for r in rows]
                before = await quarantine.present(conn, [k for p in plans for k in p.keys])
                stored_after = None
                if store is not None:
                    plans = await _write(store, plans)
                    stored_after = await quarantine.present(
                        conn, [k for p in plans for k in p.keys]
                    )
                outcomes = judge(plans, before, stored_after)
                if store is not None:
                    split = [(p.row_id, item) for p in plans for item in p.split]
                    await quarantine.record_replay(conn, [o.mark() for o in outcomes], split, at=at)
                    for p in plans:
                        for type_name, table_rows in p.prepared.rows.items():
                            touched.note(type_name, [cast(datetime, r[1]) for r in table_rows], at)
                for row, outcome in zip(rows, outcomes, strict=True):
                    tally.add(outcome)
                    print(_replay_line(row, outcome.text(dry_run=dry_run)))
                if len(rows) == _CHUNK:
                    logger.info("replayed %d rows so far", tally.rows)
        finally:
            if store is not None:
                await store.close()
        if not tally.rows and selection.state == "pending":
            done = dataclasses.replace(selection, state="replayed")
            tally.replayed_before = await quarantine.count(conn, done)
        if mode is Mode.TIMESCALEDB:
            # Replayed readings are late by definition: bring their rollups up to date now.
            for type_name, (start, end) in touched.take().items():
                await refresh_rollups(conn, DEVICE_TYPES[type_name], start, end)
    return tally


async def _write(store: Store, plans: list[Plan]) -> list[Plan]:
    """Write the plans in one transaction; the plans, with those the database refused marked."""
    from civicpulse.errors import StorageError
    from ingest.replay import merge, refused_by_storage

    batch = merge(plans)
    if not batch.rows and not batch.statuses:
        return plans
    try:
        await store.write(batch)
        return plans
    except StorageError as error:
        if not error.rejected:
            raise
    # One value the database refuses (as ingest's storage_rejected) fails the whole chunk:
    # write plan by plan to store the others and say which one it was.
    written: list[Plan] = []
    for p in plans:
        try:
            if p.keys:
                await store.write(merge([p]))
            written.append(p)
        except StorageError as error:
            if not error.rejected:
                raise
            written.append(refused_by_storage(p, error.detail))
    return written


def _replay_line(row: QuarantinedRow, outcome: str) -> str:
    cells = [
        str(row.id),
        _when(row.received_at),
        _topic(row.topic),
        _item(row.item),
        row.current_reason,
        outcome,
    ]
    return "\t".join(_cell(c) for c in cells)


def _report(tally: _Tally, *, dry_run: bool) -> str:
    if not tally.rows:
        if tally.replayed_before:
            return (
                f"nothing to replay: no pending row matches;"
                f" {_count(tally.replayed_before, 'matching row')} replayed already"
                " (--again replays them; nothing is stored twice)"
            )
        return "nothing to replay: no pending row matches"
    new = [
        _count(n, noun)
        for n, noun in ((tally.readings, "reading"), (tally.statuses, "status change"))
        if n
    ]
    stored = " and ".join(new) or "nothing new"
    if dry_run:
        parts = [f"dry run, nothing written: {_count(tally.rows, 'row')} would store {stored}"]
    else:
        parts = [f"replayed {_count(tally.rows, 'row')}: stored {stored}"]
    if tally.already:
        parts.append(f"{tally.already} already stored")
    if tally.split:
        verb = "would be quarantined" if dry_run else "quarantined"
        own = "its" if tally.split == 1 else "their"
        parts.append(f"{_count(tally.split, 'item')} {verb} on {own} own")
    if tally.rejected:
        parts.append(f"{_count(tally.rejected, 'row')} still rejected")
    return "# " + "; ".join(parts)


# --- arguments and cells ------------------------------------------------------------------------


def _selection(args: argparse.Namespace, state: State) -> Selection:
    from devices.model import Reason
    from storage.quarantine import Selection

    reasons = [r.value for r in Reason]
    if args.reason is not None and args.reason not in reasons:
        raise UsageError(
            "--reason", f"{args.reason!r} is not a quarantine reason; one of: {', '.join(reasons)}"
        )
    now = datetime.now(UTC)
    since, until = _time("--since", args.since, now), _time("--until", args.until, now)
    if since is not None and until is not None and since >= until:
        raise UsageError("--until", "must be later than --since")
    return Selection(args.reason, args.device, since, until, state)


def _time(option: str, text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    age = _AGE.match(text.strip())
    if age:
        return now - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            option, f"{text!r} is neither an ISO 8601 date or time nor an age like 90m, 12h, 7d"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _filtered(s: Selection) -> bool:
    return s.state != "all" or any((s.reason, s.device_id, s.since, s.until))


def _at_least_one(option: str, value: int) -> int:
    if value < 1:
        raise UsageError(option, f"must be at least 1, got {value}")
    return value


def _when(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _topic(topic: str) -> str:
    """``<device>/<channel>`` for a contract topic, else the topic as it came."""
    from devices.contract import TOPIC_ROOT

    return topic.removeprefix(f"{TOPIC_ROOT}/")


def _item(item: int) -> str:
    return "-" if item < 0 else str(item)


def _excerpt(payload: bytes, size: int) -> str:
    # Payloads are bytes from devices: show control characters and invalid UTF-8 as escapes.
    decoded = payload.decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in decoded)
    return text if size <= len(payload) else f"{text}… ({size} bytes)"


def _cell(text: str) -> str:
    """One line per row, one tab per column, whatever a payload or detail holds."""
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
