"""The few MQTT 3.1.1 packets the lean publisher needs, encoded and parsed without I/O.

Only CONNECT, CONNACK, PUBLISH (QoS 1) and PUBACK: enough to push pre-encoded telemetry at a broker
and count its acknowledgements, at a fraction of a general client's per-message cost.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_PACKET_ID = 65_535
PUBACK_SIZE = 4
_PUBACK_HEADER = b"\x40\x02"


class WireError(Exception):
    """The broker sent something the publisher did not expect."""


def _remaining_length(length: int) -> bytes:
    """The variable-length "remaining length" of a fixed header (MQTT 3.1.1, 2.2.3)."""
    out = bytearray()
    while True:
        digit, length = length % 128, length // 128
        out.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, *, keepalive: int = 0) -> bytes:
    """CONNECT with a clean session; ``keepalive=0`` turns the broker's keep-alive check off."""
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive) + _utf8(client_id)
    return b"\x10" + _remaining_length(len(body)) + body


def check_connack(packet: bytes) -> None:
    """Raise :class:`WireError` unless ``packet`` is a CONNACK that accepts the connection."""
    if len(packet) != 4 or packet[0] != 0x20 or packet[1] != 2:
        raise WireError(f"expected CONNACK, got {packet[:8]!r}")
    if packet[3] != 0:
        raise WireError(f"broker refused the connection: CONNACK return code {packet[3]}")


def packet_id(index: int) -> int:
    """The packet id of the ``index``-th publish: 1..65535, cycling."""
    return index % MAX_PACKET_ID + 1


def publish_packet(topic: str, payload: bytes, pid: int) -> bytes:
    """PUBLISH at QoS 1, not retained, not a duplicate."""
    variable = _utf8(topic) + struct.pack("!H", pid)
    return b"\x32" + _remaining_length(len(variable) + len(payload)) + variable + payload


@dataclass(slots=True)
class PubackReader:
    """Consumes a byte stream of PUBACKs and checks they acknowledge packets in publish order.

    Mosquitto answers a connection's QoS 1 publishes in the order it read them, so the ``n``-th
    PUBACK must carry ``packet_id(n)``; anything else is an error, never silently counted.
    """

    acked: int = 0
    _partial: bytes = field(default=b"")

    def feed(self, data: bytes) -> int:
        """Account for the PUBACKs in ``data``; returns the running total."""
        if self._partial:
            data = self._partial + data
        whole = len(data) - len(data) % PUBACK_SIZE
        self._partial = data[whole:]
        acked = self.acked
        for offset in range(0, whole, PUBACK_SIZE):
            if data[offset : offset + 2] != _PUBACK_HEADER:
                raise WireError(f"expected PUBACK, got {data[offset : offset + 4]!r}")
            pid = (data[offset + 2] << 8) | data[offset + 3]
            if pid != packet_id(acked):
                raise WireError(f"PUBACK for packet id {pid}, expected {packet_id(acked)}")
            acked += 1
        self.acked = acked
        return acked
