"""The few MQTT 3.1.1 packets a publisher needs, encoded and parsed without I/O.

CONNECT (with will and credentials), PUBLISH, PINGREQ and DISCONNECT out; CONNACK, PUBACK and
PINGRESP in. One codec for the simulators, the benchmark's lean publisher and the embedded
broker's readiness probe (the MicroPython firmware carries its own: it cannot import this).
References are to the OASIS MQTT 3.1.1 specification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONNACK = 0x20
PUBACK = 0x40
PINGRESP = 0xD0
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

MAX_PACKET_ID = 65_535
PUBACK_SIZE = 4
_PUBACK_HEADER = b"\x40\x02"

CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for a client that vanishes without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def remaining_length(n: int) -> bytes:
    """The variable-length "remaining length" field (§2.2.3)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(2, "big") + data


def connect(
    client_id: str,
    *,
    keepalive: int,
    clean_session: bool = True,
    username: str | None = None,
    password: str | None = None,
    will: Will | None = None,
) -> bytes:
    """A CONNECT packet (§3.1)."""
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _string(will.topic) + _string(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + keepalive.to_bytes(2, "big") + payload
    return b"\x10" + remaining_length(len(body)) + body


def publish(
    topic: bytes, payload: bytes, *, packet_id: int, retain: bool = False, dup: bool = False
) -> bytes:
    """A QoS 1 PUBLISH packet (§3.3); ``topic`` is already UTF-8 encoded."""
    header = 0x32 | (0x01 if retain else 0) | (0x08 if dup else 0)
    variable = len(topic).to_bytes(2, "big") + topic + packet_id.to_bytes(2, "big")
    return bytes([header]) + remaining_length(len(variable) + len(payload)) + variable + payload


def split(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Complete packets at the start of ``buffer`` as (type and flags byte, body); consumes them."""
    packets: list[tuple[int, bytes]] = []
    position = 0
    end = len(buffer)
    while position + 2 <= end:
        multiplier, length, index = 1, 0, position + 1
        while True:
            if index >= end:
                del buffer[:position]
                return packets
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if index + length > end:
            break
        packets.append((buffer[position], bytes(buffer[index : index + length])))
        position = index + length
    del buffer[:position]
    return packets


def connack_code(packet: bytes) -> int | None:
    """The return code of a complete CONNACK packet (0: accepted), ``None`` if it is not one."""
    if len(packet) != 4 or packet[0] != CONNACK or packet[1] != 2:
        return None
    return packet[3]


class WireError(Exception):
    """The broker sent something the publisher did not expect."""


def check_connack(packet: bytes) -> None:
    """Raise :class:`WireError` unless ``packet`` is a CONNACK that accepts the connection."""
    code = connack_code(packet)
    if code is None:
        raise WireError(f"expected CONNACK, got {packet[:8]!r}")
    if code != 0:
        reason = CONNACK_CODES.get(code, "unknown code")
        raise WireError(f"broker refused the connection: CONNACK return code {code} ({reason})")


def packet_id(index: int) -> int:
    """The packet id of the ``index``-th publish: 1..65535, cycling."""
    return index % MAX_PACKET_ID + 1


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
