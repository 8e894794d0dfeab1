"""``civicpulse ingest``: MQTT to the database, one process or supervised workers."""

from __future__ import annotations

import argparse
import asyncio
import sys

from civicpulse.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="consume device telemetry from MQTT into the database")
    p.add_argument("--client-id", help="MQTT client id (unique per ingest process)")
    p.add_argument("--share-group", help="join a $share/<group> subscription to split load")
    p.add_argument("--workers", type=int, help="processes on one shared subscription (default 1)")
    # Set by the supervisor for its workers: it has already retired unused sessions.
    p.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=_ingest)


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.service import IngestConfig, run_ingest
    from ingest.sessions import retire_unused

    database_url, mqtt_url = settings.require_services()
    workers = args.workers or settings.ingest_workers
    config = IngestConfig.from_settings(
        settings,
        database_url=database_url,
        mqtt_url=mqtt_url,
        client_id=args.client_id or settings.ingest_client_id,
        share_group=args.share_group or settings.ingest_share_group,
    )
    if args.supervised:
        asyncio.run(run_ingest(config))
        return 0
    if workers > 1:
        from ingest.supervisor import plan, supervise

        workers_plan = plan(config.client_id, config.share_group, workers, config.metrics_port)
        asyncio.run(
            retire_unused(
                config,
                config.client_id,
                [w.client_id for w in workers_plan],
                workers_plan[0].share_group,
            )
        )
        return asyncio.run(
            supervise(
                workers_plan,
                command=[sys.executable, "-m", "civicpulse.cli", "ingest", "--supervised"],
                metrics_host=settings.ingest_metrics_host,
                metrics_port=settings.ingest_metrics_port,
            )
        )

    async def single() -> None:
        await retire_unused(config, config.client_id, [config.client_id], config.share_group)
        await run_ingest(config)

    asyncio.run(single())
    return 0
