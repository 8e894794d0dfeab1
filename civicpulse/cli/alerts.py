"""``civicpulse alerts …``: the alert service, its rules, subscriptions and the officers' view."""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import UTC, datetime, time
from typing import Any

from civicpulse.errors import UsageError
from civicpulse.settings import Settings

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "rule_id": "zone-daqi",
        "kind": "zone_daqi",
        "params": {"min_level": "moderate", "clear_after_minutes": 60},
        "escalate_after_minutes": 30,
    },
    {"rule_id": "sensor-qc", "kind": "sensor_flagged", "params": {"clear_after_minutes": 60}},
    {
        "rule_id": "bay-overstay",
        "kind": "bay_overstay",
        "params": {"grace_minutes": 10, "clear_after_minutes": 1},
    },
    {"rule_id": "device-offline", "kind": "device_offline", "params": {"clear_after_minutes": 15}},
    # Device health beyond liveness (parameters: docs/alert-rules.md).
    {
        "rule_id": "low-battery",
        "kind": "low_battery",
        "params": {
            "below_pct": 20,
            "clear_margin_pct": 5,
            "critical_pct": 10,
            "clear_after_minutes": 60,
        },
    },
    {
        "rule_id": "data-gap",
        "kind": "data_gap",
        "params": {
            "min_completeness_pct": 75,
            "window_hours": 6,
            "settle_minutes": 15,
            "clear_after_minutes": 60,
        },
    },
    {
        "rule_id": "quarantine-rate",
        "kind": "quarantine_rate",
        "params": {
            "max_share_pct": 10,
            "min_quarantined": 5,
            "window_minutes": 60,
            "clear_after_minutes": 30,
        },
    },
]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = sub.add_parser(
        "alerts", help="alerts: the service, rules, subscriptions"
    ).add_subparsers(metavar="task")
    p = alerts.add_parser("run", help="evaluate the rules as data arrives and notify subscribers")
    p.add_argument("--tick", type=float, default=15.0, help="seconds between time-driven checks")
    p.set_defaults(run=_run)

    p = alerts.add_parser("rules", help="list the rules; --defaults installs the standard set")
    p.add_argument("--defaults", action="store_true", help="install (or reset) the standard rules")
    p.add_argument("--escalate-to", metavar="EMAIL", help="duty officer for escalations")
    p.set_defaults(run=_rules)

    p = alerts.add_parser("subscribe", help="subscribe someone to an area's alerts")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--zone", help="a zone id (ward, parking zone)")
    where.add_argument("--near", metavar="LAT,LON", help="a point, with --radius")
    p.add_argument("--radius", type=float, default=500.0, help="metres around --near (default 500)")
    p.add_argument(
        "--kind",
        action="append",
        choices=("air_quality", "parking", "device_health"),
        help="what to hear about (repeatable; default air_quality)",
    )
    p.add_argument("--min-level", choices=("moderate", "high", "very_high"), default="moderate")
    p.add_argument("--email")
    p.add_argument("--sms", metavar="PHONE")
    p.add_argument("--webhook", metavar="URL")
    p.add_argument("--mqtt", metavar="TOPIC")
    p.add_argument("--quiet", metavar="HH:MM-HH:MM", help="hold messages in these hours")
    p.add_argument("--max-per-day", type=int, default=4)
    p.set_defaults(run=_subscribe)

    p = alerts.add_parser("unsubscribe", help="end a subscription by its token")
    p.add_argument("token")
    p.set_defaults(run=_unsubscribe)

    p = alerts.add_parser("list", help="alerts, newest first")
    p.add_argument("--zone")
    p.add_argument("--state", choices=("open", "acknowledged", "resolved"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=_list)

    p = alerts.add_parser("ack", help="acknowledge an alert (stops its escalation)")
    p.add_argument("alert_id", type=int)
    p.add_argument("--by", required=True, help="who takes it on")
    p.set_defaults(run=_ack)

    p = alerts.add_parser("history", help="an alert's audit trail")
    p.add_argument("alert_id", type=int)
    p.set_defaults(run=_history)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from alerts.setup import build_service
    from civicpulse.cli.metrics import AlertsCollector, serve_metrics

    service = build_service(settings, tick_s=args.tick)
    metrics = serve_metrics(
        AlertsCollector(service),
        host=settings.metrics_host,
        port=settings.alerts_metrics_port,
        setting="CIVICPULSE_ALERTS_METRICS_PORT",
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        await service.run()

    try:
        asyncio.run(main())
    finally:
        if metrics is not None:
            metrics.close()
    return 0


def _rules(settings: Settings, args: argparse.Namespace) -> int:
    from storage import alerts as store
    from storage.alerts import Rule
    from storage.connection import connect

    async def main() -> list[Rule]:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            if args.defaults:
                rules = []
                for spec in DEFAULT_RULES:
                    params = dict(spec["params"])
                    if args.escalate_to and spec.get("escalate_after_minutes"):
                        params["escalate_to"] = {"email": args.escalate_to}
                    rules.append(Rule(**{**spec, "params": params}))
                await store.save_rules(conn, rules)
            return await store.rules(conn)

    for rule in asyncio.run(main()):
        zone = rule.zone_id or "all zones"
        escalate = (
            f", escalate after {rule.escalate_after_minutes} min"
            if rule.escalate_after_minutes
            else ""
        )
        state = "" if rule.enabled else " (disabled)"
        print(f"{rule.rule_id}\t{rule.kind}\t{zone}\t{dict(rule.params)}{escalate}{state}")
    return 0


def _quiet(text: str | None) -> tuple[time, time] | None:
    if text is None:
        return None
    start, _, end = text.partition("-")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise UsageError("--quiet", f"expected HH:MM-HH:MM, got {text!r}") from None


def _subscribe(settings: Settings, args: argparse.Namespace) -> int:
    from storage import alerts as store
    from storage.connection import connect

    channels = {
        name: value
        for name, value in (
            ("email", args.email),
            ("sms", args.sms),
            ("webhook", args.webhook),
            ("mqtt", args.mqtt),
        )
        if value
    }
    if not channels:
        raise UsageError("subscribe", "give at least one of --email, --sms, --webhook, --mqtt")
    point = None
    if args.near:
        try:
            lat, lon = (float(v) for v in args.near.split(","))
        except ValueError:
            raise UsageError("--near", f"expected LAT,LON, got {args.near!r}") from None
        point = (lon, lat)

    async def main() -> store.Subscription:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await store.subscribe(
                conn,
                kinds=args.kind or ["air_quality"],
                channels=channels,
                zone_id=args.zone,
                point=point,
                radius_m=args.radius if point else None,
                min_level=args.min_level,
                quiet=_quiet(args.quiet),
                max_per_day=args.max_per_day,
            )

    subscription = asyncio.run(main())
    where = args.zone or f"{args.radius:.0f} m around {args.near}"
    print(f"subscribed {', '.join(channels)} to {', '.join(subscription.kinds)} alerts in {where}")
    print(f"unsubscribe with: civicpulse alerts unsubscribe {subscription.token}")
    return 0


def _unsubscribe(settings: Settings, args: argparse.Namespace) -> int:
    from storage import alerts as store
    from storage.connection import connect

    async def main() -> bool:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await store.unsubscribe(conn, args.token)

    if not asyncio.run(main()):
        raise UsageError("unsubscribe", "no active subscription has that token")
    print("unsubscribed")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from storage import alerts as store
    from storage.connection import connect

    async def main() -> list[store.AlertRecord]:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await store.list_alerts(
                conn, zone_id=args.zone, state=args.state, limit=args.limit
            )

    print("id\tstate\tlevel\tsubject\tzone\topened\tmessage")
    for a in asyncio.run(main()):
        print(
            f"{a.alert_id}\t{a.state}\t{a.level}\t{a.subject}\t{a.zone_id or '-'}"
            f"\t{a.opened_at:%Y-%m-%d %H:%M}Z\t{a.message}"
        )
    return 0


def _ack(settings: Settings, args: argparse.Namespace) -> int:
    from alerts.lifecycle import acknowledge
    from storage import alerts as store
    from storage.connection import connect

    async def main() -> store.AlertRecord:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            alert = await store.get_alert(conn, args.alert_id)
            if alert is None:
                raise UsageError("ack", f"no alert {args.alert_id}")
            if alert.state == "resolved":
                raise UsageError("ack", f"alert {args.alert_id} is already resolved")
            step = acknowledge(alert, by=args.by, now=datetime.now(UTC))
            return await store.save(conn, step.alert, "acknowledged", args.by)

    alert = asyncio.run(main())
    print(f"alert {alert.alert_id} acknowledged by {alert.acknowledged_by}")
    return 0


def _history(settings: Settings, args: argparse.Namespace) -> int:
    from storage import alerts as store
    from storage.connection import connect

    async def main() -> list[tuple[Any, str, str, dict[str, Any]]]:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await store.events(conn, args.alert_id)

    rows = asyncio.run(main())
    if not rows:
        raise UsageError("history", f"no alert {args.alert_id}")
    for at, action, actor, detail in rows:
        print(f"{at:%Y-%m-%d %H:%M:%S}Z\t{action}\t{actor}\t{detail}")
    return 0
