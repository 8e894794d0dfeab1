"""A lean QoS 1 publisher process: pre-encoded PUBLISH packets over a raw socket.

A general-purpose Python client spends tens of microseconds per message; on a 2-core machine that
would measure the publisher, not the pipeline. This one encodes every packet before the clock
starts, then writes them in chunks while keeping at most ``--window`` packets unacknowledged.

Protocol with the parent: it prints ``ready`` once connected, waits for a line on stdin, publishes,
and prints one JSON object: ``sent`` (all acknowledged), ``first_publish`` and ``last_puback``
(Unix times) and its ``cpu_seconds`` while publishing.

    python -m bench.publisher --port 18830 --messages messages.txt --client-id pub-1
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from civicpulse.mqtt.packets import (
    DISCONNECT_PACKET,
    MAX_PACKET_ID,
    PubackReader,
    check_connack,
    packet_id,
)
from civicpulse.mqtt.packets import connect as connect_packet
from civicpulse.mqtt.packets import publish as publish_packet
from devices.contract import telemetry_topic

_CHUNK = 500
"""Packets per ``sendall``: few system calls, yet PUBACKs are read often."""


def encode(path: Path) -> list[bytes]:
    """PUBLISH packets for every ``<device_id> <payload>`` line of ``path``, in order."""
    packets = []
    with path.open("rb") as lines:
        for index, line in enumerate(lines):
            device_id, _, payload = line.rstrip(b"\n").partition(b" ")
            topic = telemetry_topic(device_id.decode())
            packets.append(publish_packet(topic.encode(), payload, packet_id=packet_id(index)))
    return packets


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def connect(host: str, port: int, client_id: str) -> socket.socket:
    """An MQTT 3.1.1 connection with a clean session, CONNACK checked."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id, keepalive=0))
    check_connack(_read_exactly(sock, 4))
    sock.settimeout(None)
    return sock


def publish(sock: socket.socket, packets: Sequence[bytes], window: int) -> tuple[float, float]:
    """Send ``packets`` with at most ``window`` unacknowledged; returns (first send, last PUBACK).

    The window must stay below the packet-id space, so that an id is reused only once the broker
    has acknowledged its previous use.
    """
    if not 0 < window < MAX_PACKET_ID:
        raise ValueError(f"window must be 1..{MAX_PACKET_ID - 1}")
    total, sent = len(packets), 0
    reader = PubackReader()
    first = time.time()
    while reader.acked < total:
        room = min(window - (sent - reader.acked), total - sent, _CHUNK)
        if room > 0:
            sock.sendall(b"".join(packets[sent : sent + room]))
            sent += room
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                continue
        data = sock.recv(1 << 16)
        if not data:
            raise ConnectionError(f"the broker closed the connection after {reader.acked} PUBACKs")
        reader.feed(data)
    return first, time.time()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=Path, required=True, help="<device_id> <payload> lines")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--window", type=int, default=5000, help="unacknowledged packets at most")
    args = parser.parse_args(argv)
    packets = encode(args.messages)
    sock = connect(args.host, args.port, args.client_id)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    try:
        first, last = publish(sock, packets, args.window)
        sock.sendall(DISCONNECT_PACKET)
    finally:
        sock.close()
    result = {
        "sent": len(packets),
        "first_publish": first,
        "last_puback": last,
        "cpu_seconds": time.process_time() - cpu,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
