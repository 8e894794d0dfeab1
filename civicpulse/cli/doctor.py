"""``civicpulse doctor``: what CivicPulse connects to, and whether anything is losing data.

It reports the database (versions, storage mode, schema current and matching the plugins,
TimescaleDB's background jobs), the broker (versions, the MQTT version CivicPulse is set to
speak), the messages the broker dropped since ingest last looked, each service's metrics endpoint
(``CIVICPULSE_METRICS_URLS`` or ``--metrics``), and with ``--probe-queue`` how much the broker
keeps for an offline session. Without any URL configured it checks the platform a running
``civicpulse up`` recorded. Exit status 1 when anything needs attention.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from paho.mqtt.enums import MQTTProtocolVersion

from civicpulse.cli.doctor_services import (
    SETTING,
    check_endpoints,
    parse_endpoints,
    timescaledb_jobs,
)
from civicpulse.errors import BrokerError, CivicPulseError
from civicpulse.mqtt.client import BrokerAddress, make_client, stop_loop
from civicpulse.settings import Settings
from ingest.drops import DropRecord, account, parse_uptime
from ingest.service import drops_key
from storage import meta
from storage.connection import Mode, connect, server_info
from storage.migrate import schema_drift
from storage.migrations import MIGRATIONS

DROPPED = "$SYS/broker/publish/messages/dropped"
UPTIME = "$SYS/broker/uptime"
VERSION = "$SYS/broker/version"
QUEUE_DOC = "docs/operations.md#broker-queue-limits"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check the broker and database; find where data is lost")
    p.add_argument(
        "--probe-queue",
        action="store_true",
        help="measure how many QoS 1 messages the broker keeps for an offline session",
    )
    p.add_argument(
        "--probe-messages",
        type=int,
        default=1500,
        help="messages the probe publishes (default 1500: more than Mosquitto's default 1000)",
    )
    p.add_argument(
        "--probe-url",
        help="broker URL of an account allowed on civicpulse/probe/# (default CIVICPULSE_MQTT_URL)",
    )
    p.add_argument(
        "--metrics",
        action="append",
        metavar="NAME=URL",
        help=f"a service's metrics endpoint to check (repeatable; default {SETTING})",
    )
    p.set_defaults(run=_doctor)


def _doctor(settings: Settings, args: argparse.Namespace) -> int:
    settings, endpoints, note = _targets(settings, args.metrics)
    report = asyncio.run(diagnose(settings, endpoints))
    if note:
        report.lines.insert(0, note)
    if args.probe_queue:
        _probe(report, settings, args.probe_url or settings.mqtt_url, args.probe_messages)
    print(report.text())
    return 0 if report.healthy else 1


@dataclass(slots=True)
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    broker_sys: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def text(self) -> str:
        verdict = ["", "healthy" if self.healthy else "problems:"]
        verdict += [f"  - {p}" for p in self.problems]
        return "\n".join(self.lines + verdict)


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _targets(
    settings: Settings, metrics: list[str] | None
) -> tuple[Settings, dict[str, str], str | None]:
    """The settings and endpoints to check: configured, or those of a running `civicpulse up`."""
    from civicpulse.cli.up_plan import read_record

    endpoints = (
        parse_endpoints(",".join(metrics), "--metrics")
        if metrics
        else parse_endpoints(settings.metrics_urls)
    )
    record = read_record(settings)
    if record is None:
        return settings, endpoints, None
    note = None
    if settings.database_url is None and settings.mqtt_url is None:
        exported = dict(
            str(line).removeprefix("export ").split("=", 1) for line in record.get("exports", [])
        )
        settings = settings.model_copy(
            update={
                "database_url": exported.get("CIVICPULSE_DATABASE_URL"),
                "mqtt_url": exported.get("CIVICPULSE_MQTT_URL"),
                "mqtt_protocol": exported.get("CIVICPULSE_MQTT_PROTOCOL", "5"),
            }
        )
        note = f"checking the platform `civicpulse up` (pid {record['pid']}) runs"
    if not endpoints:
        endpoints = {str(k): str(v) for k, v in dict(record.get("metrics", {})).items()}
    return settings, endpoints, note


async def diagnose(settings: Settings, endpoints: dict[str, str] | None = None) -> Report:
    report = Report()
    if settings.mqtt_url is None:
        report.problems.append("CIVICPULSE_MQTT_URL is not set")
    else:
        await asyncio.to_thread(_broker, report, settings.mqtt_url, settings.mqtt_protocol)
    if settings.database_url is None:
        report.problems.append("CIVICPULSE_DATABASE_URL is not set")
    else:
        await _database(report, settings.database_url, settings.mqtt_url)
    found = await asyncio.to_thread(check_endpoints, endpoints or {})
    report.lines += found.lines
    report.problems += found.problems
    return report


async def _database(report: Report, url: str, mqtt_url: str | None) -> None:
    report.lines.append(f"database  {redact(url)}")
    try:
        async with await connect(url) as conn:
            info = await server_info(conn)
            report.lines.append(f"  PostgreSQL {info.server_version}")
            ts = info.timescaledb_installed or (
                f"available ({info.timescaledb_available}), not installed"
                if info.timescaledb_available
                else "not available"
            )
            report.lines.append(f"  TimescaleDB {ts}")
            if info.mode is None:
                report.problems.append("database not migrated: run `civicpulse db migrate`")
                return
            report.lines.append(f"  storage mode: {info.mode}")
            cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            row = await cur.fetchone()
            version = int(str(row[0])) if row else 0
            newest = max(m.version for m in MIGRATIONS)
            report.lines.append(f"  schema version {version} (newest {newest})")
            drift = await schema_drift(conn)
            if version < newest or drift:
                report.problems.append(
                    "schema is behind the code: run `civicpulse db migrate`"
                    + (f" ({'; '.join(drift[:3])})" if drift else "")
                )
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM quarantine)"
            )
            counts = await cur.fetchone()
            if counts:
                report.lines.append(f"  devices registered: {counts[0]}; quarantined: {counts[1]}")
            if info.mode is Mode.TIMESCALEDB:
                jobs = await timescaledb_jobs(conn, now=datetime.now(UTC))
                report.lines += jobs.lines
                report.problems += jobs.problems
            else:
                report.lines.append("  rollups maintained by ingest (no background jobs)")
            if mqtt_url is not None:
                await _drops_since_ingest(report, conn, mqtt_url)
    except CivicPulseError as error:
        report.problems.append(f"database: {error}")


async def _drops_since_ingest(report: Report, conn: Any, mqtt_url: str) -> None:
    """Compare the broker's drop count now with what ingest last recorded (ingest.drops)."""
    address = BrokerAddress.parse(mqtt_url)
    key = drops_key(f"{'mqtts' if address.tls else 'mqtt'}://{address.host}:{address.port}")
    record = DropRecord.from_json(await meta.get(conn, key))
    dropped, uptime = report.broker_sys.get(DROPPED), report.broker_sys.get(UPTIME)
    if record is None:
        report.lines.append("  ingest has not recorded this broker's drop count yet")
        return
    seen = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.seen_at))
    report.lines.append(f"  ingest last read the broker's drop count at {seen}: {record.dropped}")
    seconds = parse_uptime(uptime) if uptime else None
    if dropped is None or seconds is None:
        return
    _, since = account(record, int(dropped), seconds, time.time())
    if since.dropped > 0:
        report.problems.append(
            f"the broker dropped {since.dropped} messages since ingest last looked ({seen})"
            + (" and restarted meanwhile" if since.restarted else "")
            + f": if ingest is stopped, its backlog is being lost; raise max_queued_messages"
            f" ({QUEUE_DOC})"
        )


def _broker(report: Report, url: str, protocol: str) -> None:
    report.lines.append(f"broker    {redact(url)}")
    address = BrokerAddress.parse(url)
    configured = MQTTProtocolVersion.MQTTv5 if protocol == "5" else MQTTProtocolVersion.MQTTv311
    refused = _connect_and_read(report, address, configured)
    if not refused:
        return
    if configured == MQTTProtocolVersion.MQTTv5:
        if _connect_and_read(report, address, MQTTProtocolVersion.MQTTv311):
            report.problems.append("broker: refused MQTT 5 and MQTT 3.1.1 connections")
            return
        report.problems.append(
            "the broker does not speak MQTT 5, which CivicPulse is set to use: set"
            " CIVICPULSE_MQTT_PROTOCOL=3.1.1 (ingest then relies on the broker's inflight limit"
            " instead of Receive Maximum)"
        )
    else:
        report.problems.append("broker: refused the MQTT 3.1.1 connection")


def _connect_and_read(
    report: Report, address: BrokerAddress, protocol: MQTTProtocolVersion
) -> bool:
    """Connect and read $SYS; returns True when the broker refused this protocol version."""
    client = make_client(address, f"civicpulse-doctor-{time.monotonic_ns()}", protocol=protocol)
    seen: dict[str, str] = {}
    connected = threading.Event()
    got_all = threading.Event()
    wanted = (VERSION, DROPPED, UPTIME)
    name = "MQTT 5" if protocol == MQTTProtocolVersion.MQTTv5 else "MQTT 3.1.1"

    def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        seen["connack"] = str(reason)
        connected.set()
        c.subscribe([(t, 0) for t in wanted])

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        seen[message.topic] = message.payload.decode(errors="replace")
        if all(t in seen for t in wanted):
            got_all.set()

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(address.host, address.port, keepalive=10)
    except OSError as error:
        report.problems.append(f"broker: cannot reach {address.host}:{address.port}: {error}")
        return False
    client.loop_start()
    try:
        if not connected.wait(10):
            if protocol == MQTTProtocolVersion.MQTTv5:
                return True  # brokers without MQTT 5 may simply drop the connection
            report.problems.append("broker: no CONNACK within 10 s")
            return False
        connack = seen.get("connack", "")
        if "protocol" in connack.lower():
            return True
        if connack.lower() != "success":
            report.problems.append(f"broker: refused the connection: {connack}")
            return False
        got_all.wait(3)
        report.lines.append(f"  connect ({name}): {connack}")
        report.lines.append(f"  {seen.get(VERSION, 'version not published in $SYS')}")
        report.broker_sys.update({t: seen[t] for t in wanted if t in seen})
        dropped = seen.get(DROPPED)
        if dropped is not None:
            report.lines.append(f"  messages dropped by the broker since it started: {dropped}")
        return False
    finally:
        client.disconnect()
        stop_loop(client)


def _probe(report: Report, settings: Settings, url: str | None, messages: int) -> None:
    from civicpulse.cli.probe import probe_queue

    if url is None:
        return  # already reported: no broker URL
    try:
        result = probe_queue(url, settings.mqtt_protocol, messages)
    except BrokerError as error:
        report.problems.append(f"queue probe: {error}")
        return
    report.lines.append(
        f"  offline queue: the broker kept {result.kept} of {result.published} QoS 1 messages"
        " published to a disconnected persistent session"
    )
    if result.lossy:
        report.problems.append(
            f"the broker keeps only {result.kept} messages for an offline session: a backlog"
            " beyond that is lost while ingest is away. Raise max_queued_messages (and"
            f" max_queued_bytes) in mosquitto.conf ({QUEUE_DOC})"
        )
