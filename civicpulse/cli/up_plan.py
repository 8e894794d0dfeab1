"""What ``civicpulse up`` will run, where it listens, and its record for other commands.

Pure decisions from the settings and options (the child processes' commands and environment,
the endpoints), the port check made before anything starts, and ``<data dir>/up.json``: the
running platform's URLs, which ``civicpulse doctor`` and a second ``civicpulse up`` read.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from civicpulse.cli.children import ChildSpec
from civicpulse.cli.services import Services
from civicpulse.errors import ConfigError, UsageError
from civicpulse.proc import alive
from civicpulse.settings import Settings

CLI = (sys.executable, "-m", "civicpulse.cli")
RECORD = "up.json"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the platform's processes listen."""

    api: str
    metrics: dict[str, str]


def check_not_running(settings: Settings) -> None:
    found = read_record(settings)
    if found is not None and found["pid"] != os.getpid():
        raise UsageError(
            "up",
            f"`civicpulse up` (pid {found['pid']}) is already running, its API at"
            f" {found.get('api')}; stop it first (Ctrl-C in its terminal, or kill {found['pid']})",
        )


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_ports(settings: Settings, args: argparse.Namespace) -> None:
    """Every port the processes will listen on is free, or one line says which is not."""
    wanted = [
        ("--port", args.host, args.port, "choose another with --port"),
        (
            "CIVICPULSE_INGEST_METRICS_PORT",
            settings.ingest_metrics_host,
            settings.ingest_metrics_port,
            "set it to a free port",
        ),
        (
            "CIVICPULSE_ALERTS_METRICS_PORT",
            settings.metrics_host,
            settings.alerts_metrics_port,
            "set it to a free port, or 0 to turn it off",
        ),
        (
            "CIVICPULSE_ANALYTICS_METRICS_PORT",
            settings.metrics_host,
            settings.analytics_metrics_port,
            "set it to a free port, or 0 to turn it off",
        ),
    ]
    seen: dict[int, str] = {}
    for name, host, port, advice in wanted:
        if port == 0:
            continue
        if port in seen:
            raise ConfigError(name, f"port {port} is also {seen[port]}'s; {advice}")
        seen[port] = name
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers will: a port in TIME_WAIT from a stopped run is free to them.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as error:
                reason = "is in use" if error.errno == errno.EADDRINUSE else f"fails: {error}"
                raise ConfigError(
                    name, f"port {port} on {host} {reason} (another `civicpulse up`?); {advice}"
                ) from None


def endpoints(settings: Settings, args: argparse.Namespace) -> Endpoints:
    def local(host: str) -> str:
        return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 (reading it)

    api = f"http://{local(args.host)}:{args.port}"
    metrics = {
        "ingest": f"http://{local(settings.ingest_metrics_host)}:{settings.ingest_metrics_port}/metrics"
    }
    if settings.alerts_metrics_port:
        metrics["alerts"] = (
            f"http://{local(settings.metrics_host)}:{settings.alerts_metrics_port}/metrics"
        )
    if settings.analytics_metrics_port:
        metrics["analytics"] = (
            f"http://{local(settings.metrics_host)}:{settings.analytics_metrics_port}/metrics"
        )
    metrics["api"] = f"{api}/metrics"
    return Endpoints(api, metrics)


def children(
    settings: Settings, found: Services, args: argparse.Namespace, endpoints: Endpoints
) -> list[ChildSpec]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "CIVICPULSE_DATABASE_URL": found.database_url,
        "CIVICPULSE_MQTT_URL": found.mqtt_url,
        "CIVICPULSE_MQTT_PROTOCOL": found.mqtt_protocol,
        "CIVICPULSE_INGEST_METRICS_PORT": str(settings.ingest_metrics_port),
        "CIVICPULSE_LOG_LEVEL": args.log_level or settings.log_level,
    }
    if "CIVICPULSE_PUBLIC_URL" not in os.environ:
        env["CIVICPULSE_PUBLIC_URL"] = endpoints.api  # links in messages point at this API
    logs = settings.data_dir / "logs"
    commands: dict[str, tuple[str, ...]] = {
        "ingest": ("ingest",),
        "alerts": ("alerts", "run"),
        "analytics": ("analytics", "schedule"),
        "api": ("api", "--host", args.host, "--port", str(args.port)),
    }
    if not args.no_simulate:
        commands["simulate"] = (
            "simulate",
            "--scenario",
            "city-live",
            "--from-registry",
            "--mode",
            "accelerated",
            "--start",
            f"now-{args.history}",
            "--speed",
            str(args.speed),
            "--duration",
            "forever",
            "--connection",
            "gateway",
            "--quiet",
        )
    return [
        ChildSpec(name, (*CLI, *command), env, logs / f"{name}.log")
        for name, command in commands.items()
    ]


def write_record(path: Path, found: Services, endpoints: Endpoints, specs: list[ChildSpec]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "pid": os.getpid(),
        "exports": found.exports(),
        "api": endpoints.api,
        "metrics": endpoints.metrics,
        "logs": {s.name: str(s.log) for s in specs},
    }
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))


def read_record(settings: Settings) -> dict[str, Any] | None:
    """What a running ``civicpulse up`` recorded, or ``None`` (none runs)."""
    try:
        found = orjson.loads((settings.data_dir / RECORD).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(found, dict):
        return None
    pid = found.get("pid")
    return found if isinstance(pid, int) and alive(pid) else None
