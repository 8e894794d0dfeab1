"""``civicpulse analytics …``: home energy reports (neighbour comparison), their trial, and the
scheduler that runs them each month."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from civicpulse.errors import UsageError
from civicpulse.settings import Settings

if TYPE_CHECKING:  # imported when a command runs: numpy and scipy slow `--help` down
    from analytics.nudges import Period, RunReport
    from delivery.nudges import DeliveryReport
    from storage.connection import Conn

logger = logging.getLogger(__name__)
DEFAULT_PROGRAMME = "home-energy-reports"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analytics = sub.add_parser(
        "analytics", help="energy reports, their trial, the scheduler"
    ).add_subparsers(metavar="task")
    p = analytics.add_parser(
        "nudges", help="compare every household with similar homes for a month"
    )
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="the month, e.g. 2026-10")
    _programme_options(p)
    p.add_argument(
        "--deliver", action="store_true", help="send the reports by households' channels"
    )
    p.set_defaults(run=_nudges)

    trial = analytics.add_parser(
        "trial", help="run a programme as a randomised trial"
    ).add_subparsers(metavar="step")
    p = trial.add_parser("assign", help="assign households to treatment or control, by strata")
    _programme_options(p)
    p.add_argument(
        "--baseline", required=True, metavar="YYYY-MM", help="the month that sets strata"
    )
    p.add_argument("--seed", type=int, required=True, help="random seed (record it)")
    p.set_defaults(run=_assign)
    p = trial.add_parser(
        "estimate", help="the effect, by difference in differences, with its 95% CI"
    )
    _programme_options(p)
    p.add_argument("--pre", required=True, metavar="YYYY-MM")
    p.add_argument("--post", required=True, metavar="YYYY-MM")
    p.set_defaults(run=_estimate)

    p = analytics.add_parser("schedule", help="run and deliver each month's reports when it ends")
    _programme_options(p)
    p.add_argument(
        "--day", type=int, default=2, help="day of the month to run the last month (default 2)"
    )
    p.add_argument("--check-every", type=float, default=3600.0, help="seconds between checks")
    p.set_defaults(run=_schedule)


def _programme_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--programme", default=DEFAULT_PROGRAMME, help=f"programme id (default {DEFAULT_PROGRAMME})"
    )
    p.add_argument(
        "--min-peers", type=int, default=10, help="fewest similar homes for a comparison"
    )
    p.add_argument("--target-peers", type=int, default=100, help="similar homes to compare with")


def _period(text: str, option: str) -> Period:
    from analytics.nudges import Period

    try:
        return Period.month(text)
    except ValueError:
        raise UsageError(option, f"expected a month like 2026-10, got {text!r}") from None


def _nudges(settings: Settings, args: argparse.Namespace) -> int:
    period = _period(args.period, "--period")
    if period.end > datetime.now(UTC).date() + timedelta(days=1):
        raise UsageError("--period", f"{args.period} has not ended yet")
    report, delivered = asyncio.run(_run_and_deliver(settings, args, period, deliver=args.deliver))
    print(f"{period.label()}: {report.households} households, {report.compared} compared")
    for rating, count in sorted(report.ratings.items()):
        print(f"  {rating:15} {count}")
    for reason, count in sorted(report.withheld.items()):
        print(f"  withheld: {reason}: {count}")
    print(
        f"read {report.seconds_reading:.2f} s, computed {report.seconds_computing:.2f} s,"
        f" stored {report.seconds_writing:.2f} s"
    )
    if delivered is not None:
        sent = ", ".join(f"{n} by {c}" for c, n in sorted(delivered.sent.items())) or "none"
        print(
            f"delivered: {sent}; failed {delivered.failed}; held for quiet hours {delivered.held}"
        )
        for reason, count in sorted(delivered.skipped.items()):
            print(f"  not sent: {reason}: {count}")
        if delivered.next_attempt is not None:
            print(
                f"the rest can go from {delivered.next_attempt:%Y-%m-%d %H:%M %Z}: run this"
                " command again then (`civicpulse analytics schedule` does it by itself)"
            )
    return 0


async def _run_and_deliver(
    settings: Settings, args: argparse.Namespace, period: Period, *, deliver: bool
) -> tuple[RunReport, DeliveryReport | None]:
    from analytics.nudges import run_period
    from storage import energy
    from storage.connection import connect
    from storage.energy import Programme

    programme = Programme(
        args.programme,
        "Home energy reports",
        min_peers=args.min_peers,
        target_peers=args.target_peers,
    )
    async with await connect(settings.require_database_url(), autocommit=True) as conn:
        existing = await energy.programme(conn, args.programme)
        if existing is None:
            await energy.save_programme(conn, programme)
        else:
            programme = existing
        # A second connection reads half of the year's daily data: the server's scan and
        # grouping take both cores of a small machine (docs/benchmarks.md, the nudge run).
        async with await connect(settings.require_database_url(), autocommit=True) as reader:
            report = await run_period(conn, programme, period, readers=[reader])
        delivered = None
        if deliver:
            delivered = await _deliver(settings, conn, programme.programme_id, period.start)
    return report, delivered


async def _deliver(
    settings: Settings, conn: Conn, programme_id: str, start: date
) -> DeliveryReport:
    from delivery.contacts import read_contacts
    from delivery.dispatch import Dispatcher
    from delivery.nudges import deliver_period
    from delivery.setup import senders_from

    contacts = read_contacts(settings.contacts_file) if settings.contacts_file else {}
    return await deliver_period(
        conn,
        Dispatcher(senders_from(settings)),
        programme_id,
        start,
        contacts,
        public_url=settings.public_url,
        now=datetime.now(UTC),
    )


def _assign(settings: Settings, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from analytics.trial import assign_households
    from storage import energy
    from storage.connection import connect
    from storage.energy import Programme

    baseline = _period(args.baseline, "--baseline")

    async def main() -> int:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            programme = await energy.programme(conn, args.programme) or Programme(
                args.programme, "Home energy reports", trial=True
            )
            await energy.save_programme(conn, replace(programme, trial=True))
            return await assign_households(conn, programme, baseline, seed=args.seed)

    assigned = asyncio.run(main())
    print(
        f"assigned {assigned} households (seed {args.seed}); reports now go to the treatment arm only"
    )
    return 0


def _estimate(settings: Settings, args: argparse.Namespace) -> int:
    from analytics.trial import TrialResult, estimate
    from storage import energy, trials
    from storage.connection import connect

    pre, post = _period(args.pre, "--pre"), _period(args.post, "--post")
    if post.start < pre.end:
        raise UsageError("--post", f"{args.post} must come after --pre {args.pre}")

    async def main() -> TrialResult:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            programme = await energy.programme(conn, args.programme)
            if programme is None:
                raise UsageError("--programme", f"no programme {args.programme!r}")
            found = await estimate(conn, programme, pre, post)
            # Stored, so that the API serves trial results without computing them.
            await trials.save_estimate(
                conn,
                programme.programme_id,
                pre=(pre.start, pre.end),
                post=(post.start, post.end),
                households=found.households,
                programme=found.programme,
                zones={str(zone): effect for zone, effect in found.zones.items()},
            )
            return found

    result = asyncio.run(main())
    print(f"{result.households} households in the trial")
    rows = [
        ("programme", result.programme),
        *sorted(result.zones.items(), key=lambda kv: str(kv[0])),
    ]
    for name, effect in rows:
        if effect is None:
            print(f"  {name}: too few households in an arm")
            continue
        low, high = effect.relative_ci
        print(
            f"  {name}: {effect.relative:+.1%} (95% CI {low:+.1%} to {high:+.1%}),"
            f" p={effect.p_value:.3f}, {effect.treated} treated, {effect.control} control"
        )
    print("saved: officers read it at /v1/energy/trials")
    return 0


def _schedule(settings: Settings, args: argparse.Namespace) -> int:
    from analytics.nudges import Period
    from civicpulse.cli.metrics import SchedulerCollector, SchedulerStats, serve_metrics
    from storage import energy
    from storage.connection import connect

    stop = asyncio.Event()
    stats = SchedulerStats()
    metrics = serve_metrics(
        SchedulerCollector(stats),
        host=settings.metrics_host,
        port=settings.analytics_metrics_port,
        setting="CIVICPULSE_ANALYTICS_METRICS_PORT",
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Reports held for quiet hours, or whose channel failed for a passing reason, go out at
        # a later check; so does anything a restart interrupted (one delivery pass at start:
        # a report already sent is never sent again).
        again: datetime | None = datetime.now(UTC)
        while not stop.is_set():
            stats.checks += 1
            stats.last_check = time.time()
            now = datetime.now(UTC)
            today = now.date()
            last = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
            period = Period.month(f"{last:%Y-%m}")
            if today.day >= args.day:
                async with await connect(settings.require_database_url(), autocommit=True) as conn:
                    done = await energy.nudges(conn, args.programme, period_start=period.start)
                    delivered = None
                    if done and again is not None and now >= again:
                        delivered = await _deliver(settings, conn, args.programme, period.start)
                if not done:
                    logger.info("running %s reports for %s", args.programme, period.label())
                    report, delivered = await _run_and_deliver(settings, args, period, deliver=True)
                    stats.runs += 1
                    stats.last_run = time.time()
                    stats.households, stats.compared = report.households, report.compared
                    logger.info("%s: %d compared", period.label(), report.compared)
                if delivered is not None:
                    stats.sent.update(delivered.sent)
                    stats.failed += delivered.failed
                    again = delivered.next_attempt
                    logger.info(
                        "%s: delivered %s; %d held for quiet hours%s",
                        period.label(),
                        delivered.sent,
                        delivered.held,
                        f", again from {again:%Y-%m-%d %H:%M %Z}" if again else "",
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.check_every)

    try:
        asyncio.run(main())
    finally:
        if metrics is not None:
            metrics.close()
    return 0
