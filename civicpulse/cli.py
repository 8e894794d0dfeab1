"""The ``civicpulse`` command. Settings are read here, once, and passed down.

Subcommand modules are imported lazily so that the plumbing never imports the services at
module level, and ``civicpulse --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from civicpulse.errors import CivicPulseError
from civicpulse.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=getattr(logging, str(args.log_level or settings.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result = args.run(settings, args)
        return int(result or 0)
    except CivicPulseError as error:
        print(f"civicpulse: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `civicpulse devices list | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civicpulse", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default: CIVICPULSE_LOG_LEVEL)")
    sub = parser.add_subparsers(metavar="command")

    p = sub.add_parser("demo", help="run the whole pipeline on a small simulated fleet")
    p.add_argument("--devices", type=int, default=60, help="fleet size, split over the three types")
    p.add_argument("--rounds", type=int, default=50, help="readings per device")
    p.set_defaults(run=_demo)

    p = sub.add_parser("ingest", help="consume device telemetry from MQTT into the database")
    p.add_argument("--client-id", help="MQTT client id (unique per ingest process)")
    p.add_argument("--share-group", help="join a $share/<group> subscription to split load")
    p.add_argument("--workers", type=int, help="processes on one shared subscription (default 1)")
    # Set by the supervisor for its workers: it has already retired unused sessions.
    p.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=_ingest)

    db = sub.add_parser("db", help="database tasks").add_subparsers(metavar="task")
    p = db.add_parser("migrate", help="create or update the schema (idempotent)")
    p.set_defaults(run=_migrate)

    p = sub.add_parser("doctor", help="check the broker and database and report versions")
    p.set_defaults(run=_doctor)

    p = sub.add_parser("services", help="embedded services for a laptop")
    p.add_subparsers(metavar="task").add_parser(
        "up", help="start an embedded PostgreSQL and broker and print their URLs"
    ).set_defaults(run=_services_up)

    from civicpulse.cli_registry import add_parsers

    add_parsers(sub)

    from civicpulse.cli_simulate import add_parser as add_simulate_parser

    add_simulate_parser(sub)
    return parser


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from civicpulse.migrate import Policies, migrate

    report = asyncio.run(
        migrate(
            settings.require_database_url(),
            timescaledb=settings.timescaledb,
            chunk_interval_days=settings.chunk_interval_days,
            policies=Policies(
                compress_after_days=settings.compress_after_days,
                raw_retention_days=settings.raw_retention_days,
                hourly_retention_days=settings.hourly_retention_days,
                daily_retention_days=settings.daily_retention_days,
            ),
        )
    )
    print(f"storage mode: {report.mode} ({report.reason})")
    applied = ", ".join(map(str, report.applied)) or "none (already up to date)"
    print(f"schema version {report.current}; applied now: {applied}")
    for line in report.policies:
        print(f"  policy {line}")
    return 0


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.batching import FlushPolicy
    from ingest.service import IngestConfig, limits_from, run_ingest
    from ingest.sessions import retire_unused

    database_url, mqtt_url = settings.require_services()
    workers = args.workers or settings.ingest_workers
    client_id = args.client_id or settings.ingest_client_id
    share_group = args.share_group or settings.ingest_share_group
    config = IngestConfig(
        database_url=database_url,
        mqtt_url=mqtt_url,
        client_id=client_id,
        share_group=share_group,
        flush=FlushPolicy(
            max_messages=settings.ingest_batch_max_rows,
            max_delay=settings.ingest_batch_max_delay_ms / 1000,
        ),
        receive_maximum=settings.ingest_receive_maximum,
        session_expiry=settings.ingest_session_expiry_s,
        limits=limits_from(
            max_payload_bytes=settings.max_payload_bytes,
            max_batch_items=settings.max_batch_items,
            max_future_skew_s=settings.max_future_skew_s,
            max_age_days=settings.max_age_days,
        ),
        metrics_host=settings.ingest_metrics_host,
        metrics_port=settings.ingest_metrics_port,
        protocol=settings.mqtt_protocol,
    )
    if args.supervised:
        asyncio.run(run_ingest(config))
        return 0
    if workers > 1:
        from ingest.supervisor import plan, supervise

        workers_plan = plan(client_id, share_group, workers, settings.ingest_metrics_port)
        asyncio.run(
            retire_unused(
                config, client_id, [w.client_id for w in workers_plan], workers_plan[0].share_group
            )
        )
        return asyncio.run(
            supervise(
                workers_plan,
                metrics_host=settings.ingest_metrics_host,
                metrics_port=settings.ingest_metrics_port,
                extra_args=["--supervised"],
            )
        )

    async def single() -> None:
        await retire_unused(config, client_id, [client_id], share_group)
        await run_ingest(config)

    asyncio.run(single())
    return 0


def _doctor(settings: Settings, _args: argparse.Namespace) -> int:
    from civicpulse.doctor import diagnose

    report = asyncio.run(diagnose(settings))
    print(report.text())
    return 0 if report.healthy else 1


def _services_up(settings: Settings, _args: argparse.Namespace) -> int:
    import signal
    import threading

    from civicpulse.services import services

    with services(settings) as found:
        print(f"export CIVICPULSE_DATABASE_URL={found.database_url}")
        print(f"export CIVICPULSE_MQTT_URL={found.mqtt_url}")
        print(f"# embedded: {', '.join(found.embedded) or 'none'}; Ctrl-C stops them", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from civicpulse.demo import run_demo

    return run_demo(settings, devices=args.devices, rounds=args.rounds)


if __name__ == "__main__":
    raise SystemExit(main())
