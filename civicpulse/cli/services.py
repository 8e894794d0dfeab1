"""Where the broker and database are: configured URLs, or embedded services started here.

``civicpulse services up`` starts the embedded services and keeps them until Ctrl-C or SIGTERM,
recording their URLs in ``<data dir>/services.json`` so that another command that would start its
own (``civicpulse demo``) can tell the user to use them instead.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from civicpulse.embedded import EmbeddedBroker, EmbeddedPostgres
from civicpulse.errors import UsageError
from civicpulse.proc import alive
from civicpulse.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    database_url: str
    mqtt_url: str
    embedded: tuple[str, ...]
    """Which services were started here (``postgres``, ``mosquitto`` or ``amqtt``)."""
    mqtt_protocol: Literal["5", "3.1.1"]

    def exports(self) -> list[str]:
        """Shell lines that point other commands at these services."""
        lines = [
            f"export CIVICPULSE_DATABASE_URL={self.database_url}",
            f"export CIVICPULSE_MQTT_URL={self.mqtt_url}",
        ]
        if self.mqtt_protocol != "5":
            lines.append(f"export CIVICPULSE_MQTT_PROTOCOL={self.mqtt_protocol}")
        return lines


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("services", help="embedded services for a laptop")
    p.add_subparsers(metavar="task").add_parser(
        "up", help="start an embedded PostgreSQL and broker and print their URLs"
    ).set_defaults(run=_services_up)


def _state_file(settings: Settings) -> Path:
    return settings.data_dir / "services.json"


def _check_not_running_elsewhere(settings: Settings) -> None:
    try:
        record = orjson.loads(_state_file(settings).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return
    pid = record.get("pid") if isinstance(record, dict) else None
    if isinstance(pid, int) and pid != os.getpid() and alive(pid):
        exports = "; ".join(str(line) for line in record.get("exports", []))
        raise UsageError(
            "embedded services",
            f"`civicpulse services up` (pid {pid}) is running them already; use its URLs:"
            f" {exports}",
        )


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[Services]:
    """Yield service URLs; start embedded ones for URLs that are not configured."""
    if settings.database_url is None or settings.mqtt_url is None:
        _check_not_running_elsewhere(settings)
    with contextlib.ExitStack() as stack:
        embedded: list[str] = []
        database_url, mqtt_url = settings.database_url, settings.mqtt_url
        protocol = settings.mqtt_protocol
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir=settings.data_dir / "postgres")
            stack.enter_context(postgres)
            database_url = postgres.create_database("civicpulse")
            embedded.append("postgres")
            logger.info("embedded PostgreSQL at %s", database_url)
        if mqtt_url is None:
            broker = EmbeddedBroker(
                data_dir=settings.data_dir / "broker", prefer=settings.embedded_broker
            )
            stack.enter_context(broker)
            mqtt_url = broker.url
            embedded.append(broker.kind)
            protocol = broker.protocol
            logger.info("embedded %s broker at %s", broker.kind, mqtt_url)
        yield Services(database_url, mqtt_url, tuple(embedded), protocol)


def _services_up(settings: Settings, _args: argparse.Namespace) -> int:
    with services(settings) as found:
        state = _state_file(settings)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_bytes(orjson.dumps({"pid": os.getpid(), "exports": found.exports()}))
        try:
            for line in found.exports():
                print(line)
            print(
                f"# embedded: {', '.join(found.embedded) or 'none'}; Ctrl-C or SIGTERM stops them",
                flush=True,
            )
            threading.Event().wait()  # until a signal unwinds us (see civicpulse.cli)
        finally:
            with contextlib.suppress(FileNotFoundError):
                state.unlink()
    return 0
