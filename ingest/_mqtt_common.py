"""What both MQTT sources of ingest (paho and asyncio) share: topics, hints, $SYS parsing."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from ingest.drops import parse_uptime

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
UPTIME_TOPIC = "$SYS/broker/uptime"

# What a refused CONNECT means for the person running ingest (MQTT 5 reason strings, lowered).
REFUSAL_HINTS = {
    "unsupported protocol version": "the broker does not speak MQTT 5: set"
    " CIVICPULSE_MQTT_PROTOCOL=3.1.1",
    "bad user name or password": "check the user and password in CIVICPULSE_MQTT_URL"
    " (`civicpulse broker account svc-ingest` makes them)",
    "not authorized": "the broker does not allow this user: check CIVICPULSE_MQTT_URL and the"
    " broker's password and ACL files",
    "client identifier not valid": "the broker refuses the client id: set"
    " CIVICPULSE_INGEST_CLIENT_ID to letters, digits and '-'",
}


def sys_counts(sys: Mapping[str, bytes], uptimes: int) -> tuple[int, float] | None:
    """The broker's dropped-message count and uptime (seconds) from its $SYS messages, after
    ``uptimes`` uptime samples.

    Mosquitto publishes its dropped count only once it is not zero (retained, so a subscriber
    gets it with the first uptime): after a second uptime sample in Mosquitto's format
    (``"N seconds"``) with no dropped count, the count is zero."""
    dropped, uptime = sys.get(DROPPED_TOPIC), sys.get(UPTIME_TOPIC)
    if dropped is None and uptimes >= 2 and uptime is not None and uptime.endswith(b"seconds"):
        dropped = b"0"
    if dropped is None or uptime is None:
        return None
    seconds = parse_uptime(uptime.decode(errors="replace"))
    try:
        count = int(dropped)
    except ValueError:
        return None
    return None if seconds is None else (count, seconds)


def unreachable_reason(host: str, port: int) -> str:
    """Why a TCP connection to the broker fails, in words (paho's callback does not say)."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        return f"unknown host {host!r} ({error.strerror or error})"
    try:
        with socket.create_connection((host, port), timeout=5):
            return "the connection was lost while connecting"
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__
