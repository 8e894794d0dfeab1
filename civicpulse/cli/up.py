"""``civicpulse up``: the whole platform in one command, on a laptop or a single server.

With no service URLs configured it starts the embedded PostgreSQL and broker (as ``demo`` does),
migrates, loads the sample city and its standard alert rules, then runs ingest, the alert
service, the analytics scheduler, the API and a live simulated city as supervised child
processes (:mod:`civicpulse.cli.children`), each logging to a file in the data directory. It
prints where everything is, then a one-line status. Ctrl-C, SIGTERM or SIGHUP stop the children
and the embedded services within seconds, and the command exits 0.

While it runs, ``<data dir>/up.json`` records its URLs, so that ``civicpulse doctor`` in another
terminal can check the running platform, and a second ``civicpulse up`` says where the first is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from civicpulse.cli import up_plan as plan
from civicpulse.cli.children import Children, ChildSpec, describe
from civicpulse.cli.services import Services, services
from civicpulse.cli.up_status import StatusReader, report
from civicpulse.errors import UsageError
from civicpulse.settings import Settings

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 90.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "up",
        help="the whole platform: services, ingest, alerts, analytics, API and a live city",
        description="Start everything (embedded PostgreSQL and broker when no URLs are set) and"
        " keep it running until Ctrl-C, SIGTERM or SIGHUP.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    p.add_argument("--port", type=int, default=8000, help="the API's port (default 8000)")
    city = p.add_argument_group("the sample city")
    city.add_argument("--homes", type=int, default=300, help="smart meters (default 300)")
    city.add_argument("--bays", type=int, default=200, help="parking bays (default 200)")
    city.add_argument("--monitors", type=int, default=12, help="air-quality monitors (default 12)")
    city.add_argument(
        "--prefix", default="", help="device-id prefix, to run beside another city on one broker"
    )
    city.add_argument(
        "--history", default="3h", help="replay this much of the past first (default 3h)"
    )
    city.add_argument(
        "--speed", type=float, default=60.0, help="replay speed until it reaches now (default 60)"
    )
    city.add_argument("--no-simulate", action="store_true", help="no simulated city")
    p.add_argument(
        "--status-every",
        type=float,
        default=30.0,
        help="seconds between status lines when not on a terminal (default 30)",
    )
    p.add_argument(
        "--stop-grace",
        type=float,
        default=10.0,
        help="seconds a process may take to stop before it is killed (default 10)",
    )
    p.set_defaults(run=_up)


def _up(settings: Settings, args: argparse.Namespace) -> int:
    plan.check_not_running(settings)
    ingest_port = settings.ingest_metrics_port or plan.free_port(settings.ingest_metrics_host)
    settings = settings.model_copy(update={"ingest_metrics_port": ingest_port})
    plan.check_ports(settings, args)
    record = settings.data_dir / plan.RECORD
    try:
        with services(settings) as found:
            print(f"database: {found.database_url}", flush=True)
            print(f"broker:   {found.mqtt_url}", flush=True)
            if found.embedded:
                print(f"(embedded services started here: {', '.join(found.embedded)})", flush=True)
            token = asyncio.run(_prepare(settings, found, args))
            endpoints = plan.endpoints(settings, args)
            specs = plan.children(settings, found, args, endpoints)
            plan.write_record(record, found, endpoints, specs)
            try:
                return asyncio.run(_run(settings, args, found, specs, endpoints, token))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    record.unlink()
                # A second Ctrl-C while the embedded servers stop would leave them running.
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, _already_stopping)
    except KeyboardInterrupt:  # a signal before the processes started (civicpulse.cli.Stopped)
        print("civicpulse up: stopped before it was up; nothing left running", file=sys.stderr)
        return 0


def _already_stopping(_signum: int, _frame: object) -> None:
    print("civicpulse up: already stopping", file=sys.stderr, flush=True)


async def _prepare(settings: Settings, found: Services, args: argparse.Namespace) -> str | None:
    """Migrate, register the sample city and the standard alert rules; a resident's token."""
    from civicpulse.cli.alerts import DEFAULT_RULES
    from devices.registry import validate
    from devices.sample_city import build
    from devices.types import DEVICE_TYPES
    from storage import alerts as alert_store
    from storage.connection import connect
    from storage.delivery import household_preferences
    from storage.migrate import migrate
    from storage.registry import upsert, upsert_zones

    migrated = await migrate(found.database_url, timescaledb=settings.timescaledb)
    print(f"storage mode: {migrated.mode} ({migrated.reason})", flush=True)
    city = build(homes=args.homes, bays=args.bays, monitors=args.monitors)
    devices = [
        validate(replace(d, device_id=args.prefix + d.device_id), DEVICE_TYPES)
        for d in city.devices
    ]
    async with await connect(found.database_url, autocommit=True) as conn:
        await upsert_zones(conn, city.zones)
        await upsert(conn, devices)
        if not await alert_store.rules(conn):
            await alert_store.save_rules(conn, [alert_store.Rule(**spec) for spec in DEFAULT_RULES])
        print(
            f"sample city: {len(devices)} devices in {len(city.zones)} zones;"
            f" {len(await alert_store.rules(conn))} alert rules",
            flush=True,
        )
        meters = sorted(
            (d for d in devices if d.device_type == "smart_meter"), key=lambda d: d.device_id
        )
        if not meters:
            return None
        household = str(meters[0].attributes.get("household_id", meters[0].device_id))
        # The same row a household's first report creates: it carries the page's token.
        preferences = await household_preferences(conn, [household])
        return preferences[household].token


async def _run(
    settings: Settings,
    args: argparse.Namespace,
    found: Services,
    specs: list[ChildSpec],
    endpoints: plan.Endpoints,
    token: str | None,
) -> int:
    children = Children(grace=args.stop_grace)
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not children.stopping.is_set():
            print(f"\ncivicpulse up: {sig.name}: stopping everything…", file=sys.stderr, flush=True)
        children.stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal, sig)
    by_name = {s.name: s for s in specs}
    status: asyncio.Task[None] | None = None
    try:
        for name in ("ingest", "alerts", "analytics", "api"):
            children.start(by_name[name])
        # The city starts once ingest has subscribed: what it sends first is kept, not lost.
        ingest_log = by_name["ingest"].log
        offset = ingest_log.stat().st_size if ingest_log.exists() else 0
        subscribed = await _until(lambda: _logged(ingest_log, offset, "subscribed to"), children)
        if subscribed and "simulate" in by_name:
            children.start(by_name["simulate"])
        if await _until(lambda: _answers(f"{endpoints.api}/v1/openapi.json"), children):
            _print_banner(settings, found, specs, endpoints, token)
        elif not children.stopping.is_set():
            logger.warning("the API does not answer yet; see %s", by_name["api"].log)
        reader = StatusReader(
            database_url=found.database_url, ingest_metrics_url=endpoints.metrics["ingest"]
        )
        status = asyncio.create_task(
            report(
                reader,
                lambda: describe(children.names, children.running()),
                every=args.status_every,
            )
        )
        await children.wait()
    finally:
        if status is not None:
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status
        started = time.monotonic()
        killed = await children.stop()
    if children.failure is not None:
        failure = children.failure
        raise UsageError(failure.name, f"{failure.said} (log: {failure.log})")
    took = time.monotonic() - started
    note = f"; killed after {args.stop_grace:.0f} s: {', '.join(killed)}" if killed else ""
    print(
        f"civicpulse up: {len(specs)} processes stopped in {took:.1f} s{note}",
        file=sys.stderr,
        flush=True,
    )
    return 0


async def _until(condition: Callable[[], bool], children: Children) -> bool:
    """Wait for ``condition`` (checked in a thread) unless everything is stopping."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not children.stopping.is_set() and time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(children.stopping.wait(), 0.25)
    return False


def _logged(log: Path, offset: int, text: str) -> bool:
    try:
        with log.open("rb") as stream:
            stream.seek(offset)
            return text.encode() in stream.read()
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http URL)
            return bool(response.status == 200)
    except OSError:
        return False


def _print_banner(
    settings: Settings,
    found: Services,
    specs: list[ChildSpec],
    endpoints: plan.Endpoints,
    token: str | None,
) -> None:
    spec = importlib.util.find_spec("dashboards")
    origin = spec.origin if spec is not None else None
    dashboards = Path(origin).parent / "json" if origin else Path("dashboards/json")
    resident = (
        f"{endpoints.api}/residents/{token}"
        if token
        else "after the first monthly report: a token from delivery_preferences"
    )
    metrics = [f"{url}  ({name})" for name, url in endpoints.metrics.items()]
    lines = [
        "",
        "CivicPulse is up. Ctrl-C stops everything.",
        "",
        f"  API docs        {endpoints.api}/docs",
        f"  resident's page {resident}",
        f"  metrics         {metrics[0]}",
        *(f"                  {m}" for m in metrics[1:]),
        f"  dashboards      {dashboards}/*.json (Grafana: Dashboards, New, Import)",
        f"  logs            {specs[0].log.parent}/"
        + "{"
        + ",".join(s.name for s in specs)
        + "}.log",
        "  another shell   " + "; ".join(found.exports()),
        "                  then e.g. `civicpulse doctor`, `civicpulse alerts list`",
        "",
    ]
    print("\n".join(lines), flush=True)
