"""Alert rules, alerts with their audit trail, and subscriptions (psycopg adapter).

The alert service keeps its active alerts in memory and here, so that a restart neither
forgets an open alert nor announces it again: ``alerts_one_active`` allows one unresolved alert
per rule and subject, and every change is an ``alert_events`` row (who, what, when).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from storage import alert_feed
from storage.connection import Conn
from storage.delivery import new_token
from storage.errors import storage_operation

RuleKind = Literal[
    "zone_daqi",
    "bay_overstay",
    "device_offline",
    "sensor_flagged",
    "low_battery",
    "data_gap",
    "quarantine_rate",
]
AlertState = Literal["open", "acknowledged", "resolved"]


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    kind: RuleKind
    zone_id: str | None = None
    """``None``: every zone (or device) the kind applies to."""
    params: Mapping[str, Any] = field(default_factory=dict)
    escalate_after_minutes: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as the lifecycle moves it and the table keeps it."""

    alert_id: int | None
    rule_id: str
    subject: str
    state: AlertState
    level: str
    value: float | None
    message: str
    zone_id: str | None
    opened_at: datetime
    updated_at: datetime
    below_since: datetime | None = None
    """When the condition cleared (hysteresis); ``None`` while it holds."""
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: int
    token: str
    zone_id: str | None
    longitude: float | None
    latitude: float | None
    radius_m: float | None
    kinds: tuple[str, ...]
    min_level: str
    channels: Mapping[str, str]
    """Channel → the subscriber's own contact for it (an email address, a URL, a topic)."""
    quiet_start: time | None
    quiet_end: time | None
    max_per_day: int


@storage_operation("save alert rules")
async def save_rules(conn: Conn, rules: Sequence[Rule]) -> None:
    for rule in rules:
        await conn.execute(
            "INSERT INTO alert_rules (rule_id, kind, zone_id, params, escalate_after_minutes,"
            " enabled) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (rule_id) DO UPDATE SET"
            " kind = excluded.kind, zone_id = excluded.zone_id, params = excluded.params,"
            " escalate_after_minutes = excluded.escalate_after_minutes,"
            " enabled = excluded.enabled",
            (
                rule.rule_id,
                rule.kind,
                rule.zone_id,
                Jsonb(dict(rule.params)),
                rule.escalate_after_minutes,
                rule.enabled,
            ),
        )


@storage_operation("read alert rules")
async def rules(conn: Conn) -> list[Rule]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT rule_id, kind, zone_id, params, escalate_after_minutes, enabled"
            " FROM alert_rules ORDER BY rule_id"
        )
        return [Rule(**row) for row in await cur.fetchall()]


_ALERT_COLUMNS = (
    "alert_id, rule_id, subject, state, level, value, message, zone_id, opened_at, updated_at,"
    " below_since, acknowledged_at, acknowledged_by, escalated_at, resolved_at"
)


@storage_operation("read active alerts")
async def active_alerts(conn: Conn) -> list[AlertRecord]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE state <> 'resolved' ORDER BY alert_id"
        )
        return [AlertRecord(**row) for row in await cur.fetchall()]


@storage_operation("read alerts")
async def list_alerts(
    conn: Conn,
    *,
    zone_id: str | None = None,
    state: AlertState | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AlertRecord]:
    """Newest first; ``before_id`` continues a previous page."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts"
            " WHERE (%(zone)s::text IS NULL OR zone_id = %(zone)s)"
            " AND (%(state)s::text IS NULL OR state = %(state)s)"
            " AND (%(since)s::timestamptz IS NULL OR opened_at >= %(since)s)"
            " AND (%(before)s::bigint IS NULL OR alert_id < %(before)s)"
            " ORDER BY alert_id DESC LIMIT %(limit)s",
            {"zone": zone_id, "state": state, "since": since, "before": before_id, "limit": limit},
        )
        return [AlertRecord(**row) for row in await cur.fetchall()]


@storage_operation("read an alert")
async def get_alert(conn: Conn, alert_id: int) -> AlertRecord | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = %s", (alert_id,))
        row = await cur.fetchone()
    return None if row is None else AlertRecord(**row)


@storage_operation("record an alert")
async def save(
    conn: Conn, alert: AlertRecord, action: str, actor: str, detail: Mapping[str, Any] | None = None
) -> AlertRecord:
    """Insert or update ``alert`` and add an audit event, in one transaction; returns it with
    its id."""
    async with conn.transaction():
        if alert.alert_id is None:
            cur = await conn.execute(
                "INSERT INTO alerts (rule_id, subject, zone_id, state, level, value, message,"
                " detail, opened_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING alert_id",
                (
                    alert.rule_id,
                    alert.subject,
                    alert.zone_id,
                    alert.state,
                    alert.level,
                    alert.value,
                    alert.message,
                    Jsonb(dict(detail or {})),
                    alert.opened_at,
                    alert.updated_at,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            alert = _with_id(alert, int(str(row[0])))
        else:
            await conn.execute(
                "UPDATE alerts SET state = %s, level = %s, value = %s, message = %s,"
                " zone_id = %s, updated_at = %s, below_since = %s, acknowledged_at = %s,"
                " acknowledged_by = %s, escalated_at = %s,"
                " resolved_at = CASE WHEN %s = 'resolved' THEN %s ELSE NULL END"
                " WHERE alert_id = %s",
                (
                    alert.state,
                    alert.level,
                    alert.value,
                    alert.message,
                    alert.zone_id,
                    alert.updated_at,
                    alert.below_since,
                    alert.acknowledged_at,
                    alert.acknowledged_by,
                    alert.escalated_at,
                    alert.state,
                    alert.updated_at,
                    alert.alert_id,
                ),
            )
        cur = await conn.execute(
            "INSERT INTO alert_events (alert_id, at, action, actor, detail) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING event_id",
            (
                alert.alert_id,
                alert.updated_at,
                action,
                actor,
                Jsonb({"level": alert.level, "value": alert.value, **(detail or {})}),
            ),
        )
        event = await cur.fetchone()
        assert event is not None
        assert alert.alert_id is not None
        # Delivered on commit, to the API's live streams (storage.alert_feed).
        await alert_feed.notify(conn, int(str(event[0])), alert.alert_id, alert.zone_id)
    return alert


def _with_id(alert: AlertRecord, alert_id: int) -> AlertRecord:
    return replace(alert, alert_id=alert_id)


@storage_operation("read an alert's history")
async def events(conn: Conn, alert_id: int) -> list[tuple[datetime, str, str, dict[str, Any]]]:
    """``(at, action, actor, detail)``: the audit trail of one alert, oldest first."""
    cur = await conn.execute(
        "SELECT at, action, actor, detail FROM alert_events WHERE alert_id = %s ORDER BY event_id",
        (alert_id,),
    )
    return [(a, str(b), str(c), d) for a, b, c, d in await cur.fetchall()]  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An ``alert_events`` row with its alert as it is now."""

    event_id: int
    at: datetime
    action: str
    alert: AlertRecord


@storage_operation("read alert events")
async def events_after(
    conn: Conn, after: int, *, zone_id: str | None = None, limit: int = 100
) -> list[AlertEvent]:
    """Events with an id above ``after`` (of alerts in ``zone_id``, if given), oldest first,
    each with its alert's current state: what a listener of the alert feed missed. ``notified``
    events (a delivery) are left out: they change nothing about the alert."""
    columns = ", ".join(f"a.{c.strip()}" for c in _ALERT_COLUMNS.split(","))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT e.event_id, e.at AS event_at, e.action, {columns}"
            " FROM alert_events e JOIN alerts a ON a.alert_id = e.alert_id"
            " WHERE e.event_id > %(after)s AND e.action <> 'notified'"
            " AND (%(zone)s::text IS NULL OR a.zone_id = %(zone)s)"
            " ORDER BY e.event_id LIMIT %(limit)s",
            {"after": after, "zone": zone_id, "limit": limit},
        )
        rows = await cur.fetchall()
    out = []
    for row in rows:
        event_id, at, action = row.pop("event_id"), row.pop("event_at"), row.pop("action")
        out.append(AlertEvent(int(event_id), at, str(action), AlertRecord(**row)))
    return out


@storage_operation("read the newest alert event")
async def last_event_id(conn: Conn) -> int:
    """The newest alert event's id (0 when there is none): where a new listener starts."""
    cur = await conn.execute("SELECT coalesce(max(event_id), 0) FROM alert_events")
    row = await cur.fetchone()
    assert row is not None
    return int(str(row[0]))


@storage_operation("subscribe to alerts")
async def subscribe(
    conn: Conn,
    *,
    kinds: Sequence[str],
    channels: Mapping[str, str],
    zone_id: str | None = None,
    point: tuple[float, float] | None = None,
    radius_m: float | None = None,
    min_level: str = "moderate",
    quiet: tuple[time, time] | None = None,
    max_per_day: int = 4,
) -> Subscription:
    """A resident's or business's subscription to an area: a zone, or a point (lon, lat) and
    radius. Returns it with its token (the key to unsubscribe)."""
    token = new_token()
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO alert_subscriptions (token, zone_id, longitude, latitude, radius_m, kinds,"
            " min_level, channels, quiet_start, quiet_end, max_per_day) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (
                token,
                zone_id,
                None if point is None else point[0],
                None if point is None else point[1],
                radius_m,
                list(kinds),
                min_level,
                Jsonb(dict(channels)),
                None if quiet is None else quiet[0],
                None if quiet is None else quiet[1],
                max_per_day,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return _subscription(row)


@storage_operation("unsubscribe")
async def unsubscribe(conn: Conn, token: str) -> bool:
    cur = await conn.execute(
        "UPDATE alert_subscriptions SET unsubscribed_at = now()"
        " WHERE token = %s AND unsubscribed_at IS NULL",
        (token,),
    )
    return cur.rowcount == 1


@storage_operation("read subscriptions")
async def active_subscriptions(conn: Conn) -> list[Subscription]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM alert_subscriptions WHERE unsubscribed_at IS NULL ORDER BY subscription_id"
        )
        return [_subscription(row) for row in await cur.fetchall()]


def _subscription(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        subscription_id=int(row["subscription_id"]),
        token=row["token"],
        zone_id=row["zone_id"],
        longitude=row["longitude"],
        latitude=row["latitude"],
        radius_m=row["radius_m"],
        kinds=tuple(row["kinds"]),
        min_level=row["min_level"],
        channels=dict(row["channels"]),
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        max_per_day=int(row["max_per_day"]),
    )
