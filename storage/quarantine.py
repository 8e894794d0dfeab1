"""The quarantine in the database (psycopg adapter): list it, summarise it, record its replays.

Rows are chosen by a :class:`Selection`. A row is *pending* while it was never replayed or is still
refused; a replay marks rows (``replayed_at``, ``replay_outcome``, ``replay_reason``, migration 5)
and never deletes them, so the table stays the audit trail of what was refused and what became of
it. The decoding itself is ``ingest.replay``'s; this module only reads and writes rows.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import dict_row

from storage.batch import QuarantineRow
from storage.connection import Conn
from storage.errors import storage_operation

State = Literal["pending", "replayed", "all"]
Key = tuple[str, str, datetime]
"""A stored fact's natural key: its relation (a readings table or ``device_status``), device, ts."""

# The predicate of quarantine_pending_idx (migration 5), word for word: the planner uses a partial
# index only for queries that imply its predicate.
_PENDING = "(replayed_at IS NULL OR replay_reason IS NOT NULL)"
_STATES: dict[str, str] = {
    "all": "",
    "pending": f" AND {_PENDING}",
    "replayed": f" AND NOT {_PENDING}",
}
_FILTER = (
    "(%(reason)s::text IS NULL OR reason = %(reason)s OR replay_reason = %(reason)s)"
    " AND (%(device)s::text IS NULL OR device_id = %(device)s)"
    " AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)"
)
_COLUMNS = (
    "id, received_at, last_received_at, deliveries, topic, device_id, item, reason, detail,"
    " octet_length(payload) AS payload_size, replayed_at, replay_outcome, replay_reason"
)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which rows: by reason (at arrival or now), device, arrival time ``[since, until)``, state."""

    reason: str | None = None
    device_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    state: State = "all"

    def _where(self) -> tuple[sql.Composable, dict[str, Any]]:
        params = {
            "reason": self.reason,
            "device": self.device_id,
            "since": self.since,
            "until": self.until,
        }
        return sql.SQL(_FILTER + _STATES[self.state]), params


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """One row of the quarantine. ``reason``/``detail`` say why it was refused on arrival."""

    id: int
    received_at: datetime
    last_received_at: datetime
    deliveries: int
    topic: str
    device_id: str | None
    item: int
    """-1 for a whole message, else the index of the refused item in its batch."""
    reason: str
    detail: str
    payload: bytes
    """The whole payload when selected for replay; its first bytes (or none) when listed."""
    payload_size: int
    replayed_at: datetime | None = None
    replay_outcome: str | None = None
    replay_reason: str | None = None
    """Why the last replay still refused it; ``None`` if never replayed or since stored."""

    @property
    def pending(self) -> bool:
        return self.replayed_at is None or self.replay_reason is not None

    @property
    def current_reason(self) -> str:
        """Why it is refused as of its last replay (or arrival)."""
        return self.replay_reason or self.reason


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[QuarantinedRow, ...]
    total: int
    """How many rows match, of which ``rows`` are the newest."""


@dataclass(frozen=True, slots=True)
class Group:
    """Counts of the rows that share a key (a reason, a device, a day)."""

    key: str | None
    rows: int
    deliveries: int
    pending: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Summary:
    total: Group | None
    """``None`` when no row matches."""
    by_reason: tuple[Group, ...]
    """By the reason as of the last replay, most rows first."""
    by_device: tuple[Group, ...]
    """The ``top`` devices with most rows; ``key`` is ``None`` for rows without a device id."""
    devices: int
    """How many device groups there are (rows without a device id make one)."""
    by_day: tuple[Group, ...]
    """By UTC day of first arrival, oldest first."""


@dataclass(frozen=True, slots=True)
class ReplayMark:
    """What one replay did to a row, to record on it."""

    id: int
    outcome: str
    reason: str | None
    """Why the row is still refused; ``None`` once its readings are stored."""


def _row(values: dict[str, Any]) -> QuarantinedRow:
    values.setdefault("payload", b"")
    values["payload"] = bytes(values["payload"])
    return QuarantinedRow(**values)


@storage_operation("list the quarantine")
async def list_rows(conn: Conn, selection: Selection, *, limit: int, excerpt: int = 0) -> Page:
    """The newest ``limit`` (at least 1) matching rows, with the first ``excerpt`` bytes of their
    payloads, and how many rows match."""
    where, params = selection._where()
    query = sql.SQL(
        "SELECT {columns}, substring(payload FOR %(excerpt)s) AS payload,"
        " count(*) OVER () AS total FROM quarantine WHERE {where}"
        " ORDER BY received_at DESC, id DESC LIMIT %(limit)s"
    ).format(columns=sql.SQL(_COLUMNS), where=where)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {**params, "excerpt": excerpt, "limit": limit})
        found = await cur.fetchall()
    total = int(found[0].pop("total")) if found else 0
    for values in found[1:]:
        values.pop("total")
    return Page(tuple(_row(v) for v in found), total)


@storage_operation("count quarantined rows")
async def count(conn: Conn, selection: Selection) -> int:
    """How many rows match."""
    where, params = selection._where()
    cur = await conn.execute(
        sql.SQL("SELECT count(*) FROM quarantine WHERE {}").format(where), params
    )
    found = await cur.fetchone()
    return int(str(found[0])) if found else 0


@storage_operation("read the quarantine's newest id")
async def newest_id(conn: Conn) -> int:
    """Rows a replay quarantines itself come after this id, so a replay never replays them."""
    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM quarantine")
    found = await cur.fetchone()
    return int(str(found[0])) if found else 0


@storage_operation("read quarantined rows to replay")
async def rows_to_replay(
    conn: Conn, selection: Selection, *, after_id: int, up_to_id: int, limit: int
) -> list[QuarantinedRow]:
    """The next ``limit`` matching rows with ids in ``(after_id, up_to_id]``, whole payloads."""
    where, params = selection._where()
    query = sql.SQL(
        "SELECT {columns}, payload FROM quarantine"
        " WHERE id > %(after)s AND id <= %(up_to)s AND {where} ORDER BY id LIMIT %(limit)s"
    ).format(columns=sql.SQL(_COLUMNS), where=where)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {**params, "after": after_id, "up_to": up_to_id, "limit": limit})
        return [_row(v) for v in await cur.fetchall()]


# One scan for every breakdown: GROUPING(...) is a bit mask of the columns a row is not grouped by.
_TOTAL, _BY_REASON, _BY_DEVICE, _BY_DAY = 0b111, 0b011, 0b101, 0b110


@storage_operation("summarise the quarantine")
async def summarize(conn: Conn, selection: Selection, *, top: int) -> Summary:
    """Totals of the matching rows, by current reason, by device (the ``top`` ones) and by day."""
    where, params = selection._where()
    query = sql.SQL(
        "SELECT GROUPING(now_reason, device_id, day) AS grouping, now_reason, device_id, day,"
        " count(*) AS rows, sum(deliveries) AS deliveries,"
        " count(*) FILTER (WHERE pending) AS pending,"
        " min(received_at) AS first_seen, max(last_received_at) AS last_seen"
        " FROM (SELECT coalesce(replay_reason, reason) AS now_reason, device_id,"
        "   (received_at AT TIME ZONE 'UTC')::date AS day, deliveries, received_at,"
        "   last_received_at, {pending} AS pending FROM quarantine WHERE {where}) AS q"
        " GROUP BY GROUPING SETS ((), (now_reason), (device_id), (day))"
    ).format(pending=sql.SQL(_PENDING), where=where)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        found = await cur.fetchall()
    groups: dict[int, list[Group]] = defaultdict(list)
    for values in found:
        if not values["rows"]:
            continue  # the grand total of nothing
        kind = int(values["grouping"])
        key: str | date | None = {
            _TOTAL: None,
            _BY_REASON: values["now_reason"],
            _BY_DEVICE: values["device_id"],
            _BY_DAY: values["day"],
        }[kind]
        groups[kind].append(
            Group(
                key=key.isoformat() if isinstance(key, date) else key,
                rows=int(values["rows"]),
                deliveries=int(values["deliveries"]),
                pending=int(values["pending"]),
                first_seen=values["first_seen"],
                last_seen=values["last_seen"],
            )
        )
    devices = sorted(groups[_BY_DEVICE], key=_most_first)
    return Summary(
        total=groups[_TOTAL][0] if groups[_TOTAL] else None,
        by_reason=tuple(sorted(groups[_BY_REASON], key=_most_first)),
        by_device=tuple(devices[:top]),
        devices=len(devices),
        by_day=tuple(sorted(groups[_BY_DAY], key=lambda g: g.key or "")),
    )


def _most_first(group: Group) -> tuple[int, str]:
    return (-group.rows, group.key or "")


@storage_operation("look for stored readings")
async def present(conn: Conn, keys: Iterable[Key]) -> set[Key]:
    """Those of ``keys`` whose relation holds a row with that ``(device_id, ts)``."""
    wanted: dict[str, set[tuple[str, datetime]]] = defaultdict(set)
    for relation, device_id, ts in keys:
        wanted[relation].add((device_id, ts))
    found: set[Key] = set()
    for relation, pairs in wanted.items():
        ordered = sorted(pairs)
        cur = await conn.execute(
            sql.SQL(
                "SELECT t.device_id, t.ts FROM {} AS t"
                " JOIN unnest(%s::text[], %s::timestamptz[]) AS k(device_id, ts)"
                " ON t.device_id = k.device_id AND t.ts = k.ts"
            ).format(sql.Identifier(relation)),
            ([p[0] for p in ordered], [p[1] for p in ordered]),
        )
        for found_id, found_ts in await cur.fetchall():
            assert isinstance(found_ts, datetime)
            found.add((relation, str(found_id), found_ts))
    return found


@storage_operation("record a replay")
async def record_replay(
    conn: Conn,
    marks: Sequence[ReplayMark],
    split: Sequence[tuple[int, QuarantineRow]],
    *,
    at: datetime,
) -> None:
    """Mark replayed rows, and quarantine the items a replay refused, in one transaction.

    ``split`` pairs a row's id with an item of its message that is refused today: the item gets a
    row of its own (as ingest would have made it), with the arrival and deliveries of its message.
    An item already quarantined for the same reason is left as it is: a replay is not a delivery.
    """
    async with conn.transaction(), conn.cursor() as cur:
        if split:
            await cur.execute(
                "INSERT INTO quarantine (received_at, last_received_at, deliveries, topic,"
                " device_id, item, reason, detail, payload, payload_sha256)"
                " SELECT s.received_at, q.last_received_at, q.deliveries, s.topic, s.device_id,"
                "   s.item, s.reason, s.detail, s.payload, s.sha256"
                " FROM unnest(%s::int8[], %s::timestamptz[], %s::text[], %s::text[], %s::int4[],"
                "   %s::text[], %s::text[], %s::bytea[], %s::bytea[])"
                "   AS s(source, received_at, topic, device_id, item, reason, detail, payload,"
                "   sha256)"
                " JOIN quarantine AS q ON q.id = s.source"
                " ON CONFLICT (topic, payload_sha256, item, reason) DO NOTHING",
                (
                    [source for source, _ in split],
                    [row.received_at for _, row in split],
                    [row.topic for _, row in split],
                    [row.device_id for _, row in split],
                    [row.item for _, row in split],
                    [row.reason.value for _, row in split],
                    [row.detail for _, row in split],
                    [row.payload for _, row in split],
                    [hashlib.sha256(row.payload).digest() for _, row in split],
                ),
            )
        if marks:
            await cur.execute(
                "UPDATE quarantine AS q SET replayed_at = %s, replay_outcome = m.outcome,"
                " replay_reason = m.reason"
                " FROM unnest(%s::int8[], %s::text[], %s::text[]) AS m(id, outcome, reason)"
                " WHERE q.id = m.id",
                (
                    at,
                    [m.id for m in marks],
                    [m.outcome for m in marks],
                    [m.reason for m in marks],
                ),
            )
