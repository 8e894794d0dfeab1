"""``civicpulse doctor``: what CivicPulse connects to, which versions, which storage mode."""

from __future__ import annotations

import argparse
import asyncio
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg
from paho.mqtt.enums import MQTTProtocolVersion

from civicpulse.mqtt.client import BrokerAddress, make_client
from civicpulse.settings import Settings
from storage.connection import connect, server_info
from storage.migrations import MIGRATIONS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check the broker and database and report versions")
    p.set_defaults(run=_doctor)


def _doctor(settings: Settings, _args: argparse.Namespace) -> int:
    report = asyncio.run(diagnose(settings))
    print(report.text())
    return 0 if report.healthy else 1


@dataclass(slots=True)
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def text(self) -> str:
        verdict = [
            "",
            "healthy" if self.healthy else "problems:",
            *[f"  - {p}" for p in self.problems],
        ]
        return "\n".join(self.lines + verdict)


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


async def diagnose(settings: Settings) -> Report:
    report = Report()
    if settings.database_url is None:
        report.problems.append("CIVICPULSE_DATABASE_URL is not set")
    else:
        await _database(report, settings.database_url)
    if settings.mqtt_url is None:
        report.problems.append("CIVICPULSE_MQTT_URL is not set")
    else:
        await asyncio.to_thread(_broker, report, settings.mqtt_url)
    return report


async def _database(report: Report, url: str) -> None:
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
            if version < newest:
                report.problems.append("schema is behind: run `civicpulse db migrate`")
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM quarantine)"
            )
            counts = await cur.fetchone()
            if counts:
                report.lines.append(f"  devices registered: {counts[0]}; quarantined: {counts[1]}")
    except psycopg.Error as error:
        report.problems.append(f"database: {str(error).strip().splitlines()[0]}")


def _broker(report: Report, url: str) -> None:
    report.lines.append(f"broker    {redact(url)}")
    address = BrokerAddress.parse(url)
    for protocol in (MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311):
        refused = _probe(report, address, protocol)
        if not refused:
            return
        report.lines.append(
            "  MQTT 5 refused; trying MQTT 3.1.1 (set CIVICPULSE_MQTT_PROTOCOL=3.1.1)"
        )
    report.problems.append("broker: refused MQTT 5 and MQTT 3.1.1 connections")


def _probe(report: Report, address: BrokerAddress, protocol: MQTTProtocolVersion) -> bool:
    """Connect and read $SYS; returns True when the broker refused this protocol version."""
    client = make_client(address, "civicpulse-doctor", protocol=protocol)
    seen: dict[str, str] = {}
    connected = threading.Event()
    got_all = threading.Event()
    wanted = ("$SYS/broker/version", "$SYS/broker/publish/messages/dropped")

    def on_connect(c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        seen["connack"] = str(reason)
        connected.set()
        client.subscribe([(t, 0) for t in wanted])

    def on_message(_c: object, _u: object, message: object) -> None:
        seen[message.topic] = message.payload.decode(errors="replace")  # type: ignore[attr-defined]
        if all(t in seen for t in wanted):
            got_all.set()

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(address.host, address.port, keepalive=10)
    except OSError as error:
        report.problems.append(f"broker: {error}")
        return False
    client.loop_start()
    try:
        if not connected.wait(10):
            if protocol == MQTTProtocolVersion.MQTTv5:
                return True  # brokers without MQTT 5 may simply drop the connection
            report.problems.append("broker: no CONNACK within 10 s")
            return False
        if "protocol" in seen.get("connack", "").lower():
            return True
        got_all.wait(3)
        report.lines.append(f"  connect: {seen.get('connack')}")
        report.lines.append(f"  {seen.get(wanted[0], 'version not published in $SYS')}")
        dropped = seen.get(wanted[1])
        if dropped is not None:
            report.lines.append(f"  messages dropped by the broker since it started: {dropped}")
            if dropped.strip() not in ("", "0"):
                report.problems.append(
                    f"the broker dropped {dropped.strip()} messages: raise max_queued_messages"
                    " (see docs/operations.md)"
                )
        return False
    finally:
        client.disconnect()
        client.loop_stop()
