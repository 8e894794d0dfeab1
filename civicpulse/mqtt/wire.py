"""The MQTT 5 and 3.1.1 packets a consumer needs, encoded and decoded without I/O.

Out: CONNECT (session expiry, Receive Maximum, credentials), SUBSCRIBE (``$share`` filters are
ordinary filters on the wire), UNSUBSCRIBE, PUBLISH (QoS 1, for ingest's stop barrier), PUBACK,
PINGREQ and DISCONNECT. In: CONNACK, PUBLISH at QoS 0 and 1, PUBACK, SUBACK, UNSUBACK, PINGRESP and
(MQTT 5) DISCONNECT. Anything else, or a frame that breaks the specification, raises
:class:`MalformedPacket`, which names the packet and what is wrong with it; the connection that
carried it is then closed (MQTT 5 §4.13).

:class:`Decoder` takes bytes as they come off a socket, in reads of any size, and returns every
complete packet in them: ingest reads large chunks and parses all their PUBLISH packets in one
call, and acknowledges a committed batch with one write of :func:`pubacks`. References are to the
OASIS MQTT 5.0 specification (3.1.1 where it differs).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from civicpulse.errors import CivicPulseError

MQTT_5 = 5
MQTT_311 = 4
MAX_REMAINING_LENGTH = 268_435_455
"""The largest remaining length four bytes of variable-length integer can say (§1.5.5)."""

PINGREQ = b"\xc0\x00"

# Packet types (§2.1.2).
_CONNACK, _PUBLISH, _PUBACK, _SUBACK, _UNSUBACK, _PINGRESP, _DISCONNECT = 2, 3, 4, 9, 11, 13, 14
_NAMES = {
    0: "reserved type 0",
    1: "CONNECT",
    2: "CONNACK",
    3: "PUBLISH",
    4: "PUBACK",
    5: "PUBREC",
    6: "PUBREL",
    7: "PUBCOMP",
    8: "SUBSCRIBE",
    9: "SUBACK",
    10: "UNSUBSCRIBE",
    11: "UNSUBACK",
    12: "PINGREQ",
    13: "PINGRESP",
    14: "DISCONNECT",
    15: "AUTH",
}

# Reason codes (§2.4), lower case as the hints that explain them are keyed.
REASONS = {
    0x00: "success",
    0x04: "disconnect with will message",
    0x10: "no matching subscribers",
    0x11: "no subscription existed",
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8C: "bad authentication method",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x93: "receive maximum exceeded",
    0x94: "topic alias invalid",
    0x95: "packet too large",
    0x96: "message rate too high",
    0x97: "quota exceeded",
    0x98: "administrative action",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "qos not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded",
    0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}
SESSION_TAKEN_OVER = 0x8E
# MQTT 3.1.1 CONNACK return codes (§3.2.2.3 of 3.1.1) as the MQTT 5 reason codes that mean the same.
_CONNACK_311 = {0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}


def reason_name(code: int) -> str:
    return REASONS.get(code, f"reason code 0x{code:02x}")


class MalformedPacket(CivicPulseError):
    """The broker sent bytes that are not a packet a consumer may receive."""

    def __init__(self, packet: str, detail: str) -> None:
        super().__init__(f"malformed MQTT packet ({packet}): {detail}")
        self.packet = packet
        self.detail = detail


new_tuple = tuple.__new__
"""Builds a NamedTuple from a tuple of its fields at half the cost of calling the class (whose
``__new__`` is a generated function that packs its arguments again)."""


class Publish(NamedTuple):
    """An incoming application message. A tuple: one is built per message on the hot path."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    """0 at QoS 0."""
    retain: bool
    dup: bool


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason_code: int
    """MQTT 5 reason code; a 3.1.1 return code is given as the MQTT 5 code that means the same."""
    receive_maximum: int = 65_535
    """How many QoS 1 publishes the server accepts from us unacknowledged."""
    reason_string: str | None = None

    @property
    def failed(self) -> bool:
        return self.reason_code >= 0x80


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reason_codes: tuple[int, ...]
    """One per filter: the granted QoS, or a failure code (0x80 and above)."""


@dataclass(frozen=True, slots=True)
class UnsubAck:
    packet_id: int
    reason_codes: tuple[int, ...]
    """Empty in MQTT 3.1.1, which has none."""


@dataclass(frozen=True, slots=True)
class PubAck:
    packet_id: int
    reason_code: int = 0


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The server closes the connection and says why (MQTT 5 only)."""

    reason_code: int
    reason_string: str | None = None


Packet = Publish | ConnAck | SubAck | UnsubAck | PubAck | PingResp | Disconnect


# Encoding.


def varint(n: int) -> bytes:
    """A variable-length integer (§1.5.5)."""
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"{n} does not fit a variable-length integer")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    if len(data) > 65_535:
        raise ValueError("a string or binary field holds at most 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect(
    client_id: str,
    *,
    version: int = MQTT_5,
    keepalive: int,
    clean_start: bool,
    session_expiry: int = 0,
    receive_maximum: int = 65_535,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """A CONNECT packet (§3.1). In MQTT 3.1.1, ``clean_start`` is Clean Session, and session
    expiry and Receive Maximum do not exist."""
    flags = 0x02 if clean_start else 0
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    if password is not None and (username is not None or version == MQTT_5):
        flags |= 0x40
        payload += _string(password)
    head = b"\x00\x04MQTT" + bytes([version, flags]) + keepalive.to_bytes(2, "big")
    if version == MQTT_5:
        if not 1 <= receive_maximum <= 65_535:
            raise ValueError("Receive Maximum is 1 to 65,535")
        properties = b"\x11" + session_expiry.to_bytes(4, "big")
        properties += b"\x21" + receive_maximum.to_bytes(2, "big")
        head += varint(len(properties)) + properties
    return _packet(0x10, head + payload)


def subscription_options(qos: int, *, retain_handling: int = 0) -> int:
    """The options byte of one SUBSCRIBE entry (§3.8.3.1); 3.1.1 reads only the QoS bits."""
    return qos | (retain_handling << 4)


def subscribe(
    packet_id: int, subscriptions: Sequence[tuple[str, int]], *, version: int = MQTT_5
) -> bytes:
    """A SUBSCRIBE of (filter, options byte) pairs (§3.8)."""
    body = packet_id.to_bytes(2, "big") + (b"\x00" if version == MQTT_5 else b"")
    for topic_filter, options in subscriptions:
        body += _string(topic_filter) + bytes([options if version == MQTT_5 else options & 3])
    return _packet(0x82, body)


def unsubscribe(packet_id: int, filters: Sequence[str], *, version: int = MQTT_5) -> bytes:
    body = packet_id.to_bytes(2, "big") + (b"\x00" if version == MQTT_5 else b"")
    return _packet(0xA2, body + b"".join(_string(f) for f in filters))


def publish(topic: str, payload: bytes, *, packet_id: int, version: int = MQTT_5) -> bytes:
    """A QoS 1 PUBLISH (§3.3)."""
    body = _string(topic) + packet_id.to_bytes(2, "big") + (b"\x00" if version == MQTT_5 else b"")
    return _packet(0x32, body + payload)


_PUBACK_FORMAT = struct.Struct(">HH")


def pubacks(packet_ids: Iterable[int]) -> bytes:
    """One PUBACK per packet id, back to back, for one write (reason code 0 is implied by a
    remaining length of 2 in MQTT 5, §3.4.2.1, and is all 3.1.1 has)."""
    pack = _PUBACK_FORMAT.pack
    return b"".join([pack(0x4002, pid) for pid in packet_ids])


def disconnect(*, version: int = MQTT_5, session_expiry: int | None = None) -> bytes:
    """DISCONNECT (§3.14); in MQTT 5, ``session_expiry`` replaces the one given at CONNECT
    (0 ends the session when the connection closes)."""
    if version != MQTT_5 or session_expiry is None:
        return b"\xe0\x00"
    properties = b"\x11" + session_expiry.to_bytes(4, "big")
    return _packet(0xE0, b"\x00" + varint(len(properties)) + properties)


# Decoding.

# Property identifiers (§2.2.2.2) by how their value is encoded.
_BYTE = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_TWO = frozenset({0x13, 0x21, 0x22, 0x23})
_FOUR = frozenset({0x02, 0x11, 0x18, 0x27})
_VARINT = frozenset({0x0B})
_UTF8 = frozenset({0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F})
_BINARY = frozenset({0x09, 0x16})
_PAIR = 0x26
_TOPIC_ALIAS = 0x23
_RECEIVE_MAXIMUM = 0x21
_REASON_STRING = 0x1F


def _read_varint(data: bytes, at: int, end: int, packet: str) -> tuple[int, int]:
    """(value, index after it) of a variable-length integer inside a complete packet."""
    value, shift = 0, 0
    for index in range(at, min(at + 4, end)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    if end - at >= 4:
        raise MalformedPacket(packet, "a variable-length integer longer than four bytes")
    raise MalformedPacket(packet, "a variable-length integer runs past the packet")


def _utf8(data: bytes, packet: str, what: str) -> str:
    try:
        text = data.decode()
    except UnicodeDecodeError as error:
        raise MalformedPacket(packet, f"{what} is not valid UTF-8 ({error.reason})") from None
    if "\x00" in text:
        raise MalformedPacket(packet, f"{what} contains U+0000")
    return text


def _properties(data: bytes, at: int, end: int, packet: str) -> tuple[dict[int, object], int]:
    """The properties at ``at`` (their length first) and the index after them."""
    length, at = _read_varint(data, at, end, packet)
    stop = at + length
    if stop > end:
        raise MalformedPacket(packet, "the properties run past the packet")
    found: dict[int, object] = {}
    while at < stop:
        ident = data[at]
        at += 1
        value: object
        if ident in _BYTE:
            size = 1
        elif ident in _TWO:
            size = 2
        elif ident in _FOUR:
            size = 4
        elif ident in _VARINT:
            value, at = _read_varint(data, at, stop, packet)
            found[ident] = value
            continue
        elif ident in _UTF8 or ident in _BINARY or ident == _PAIR:
            fields = 2 if ident == _PAIR else 1
            values = []
            for _ in range(fields):
                if at + 2 > stop:
                    raise MalformedPacket(packet, f"property 0x{ident:02x} runs past its end")
                size = (data[at] << 8) | data[at + 1]
                if at + 2 + size > stop:
                    raise MalformedPacket(packet, f"property 0x{ident:02x} runs past its end")
                raw = bytes(data[at + 2 : at + 2 + size])
                values.append(raw if ident in _BINARY else _utf8(raw, packet, "a property"))
                at += 2 + size
            if ident != _PAIR:  # user properties may repeat and are not used
                found[ident] = values[0]
            continue
        else:
            raise MalformedPacket(packet, f"unknown property identifier 0x{ident:02x}")
        if at + size > stop:
            raise MalformedPacket(packet, f"property 0x{ident:02x} runs past its end")
        found[ident] = int.from_bytes(data[at : at + size], "big")
        at += size
    return found, stop


class Decoder:
    """Splits a byte stream from a broker into packets; keeps a partial packet for the next read.

    ``max_packet_size`` bounds what it will buffer for one packet (the whole packet, header
    included); a larger one raises :class:`MalformedPacket` as soon as its length is read.
    """

    def __init__(self, *, version: int = MQTT_5, max_packet_size: int | None = None) -> None:
        self._v5 = version == MQTT_5
        self._max = max_packet_size or MAX_REMAINING_LENGTH + 5
        self._rest = bytearray()
        self._need = 0
        """Bytes the packet at the start of ``_rest`` needs in all (0: not known yet)."""

    @property
    def buffered(self) -> int:
        """Bytes held of a packet not yet complete."""
        return len(self._rest)

    def feed(self, data: bytes) -> list[Packet]:
        """Every packet completed by ``data``, in order."""
        rest = self._rest
        if rest:
            rest += data
            if len(rest) < self._need:
                return []  # a large packet still arriving: no quadratic re-scan
            data = bytes(rest)
            rest.clear()
        self._need = 0
        out: list[Packet] = []
        append = out.append
        v5 = self._v5
        end = len(data)
        pos = 0
        while pos < end:
            first = data[pos]
            index = pos + 1
            if index >= end:
                break
            byte = data[index]
            if byte < 0x80:
                length = byte
                index += 1
            else:
                length, index = self._length(data, index, end)
                if index < 0:
                    break
            stop = index + length
            if stop - pos > self._max:
                raise MalformedPacket(
                    _NAMES[first >> 4],
                    f"{stop - pos} bytes, more than the {self._max} this client accepts",
                )
            if stop > end:
                self._need = stop - pos
                break
            if first >> 4 == _PUBLISH:
                # The hot path, inline: topic, packet id, (MQTT 5) properties, payload.
                qos = (first >> 1) & 3
                if qos > 1:
                    raise MalformedPacket(
                        "PUBLISH", "QoS 2 was not subscribed for" if qos == 2 else "QoS 3"
                    )
                if index + 2 > stop:
                    raise MalformedPacket("PUBLISH", "too short for a topic name")
                topic_end = index + 2 + ((data[index] << 8) | data[index + 1])
                at = topic_end + 2 if qos else topic_end
                if at > stop:
                    raise MalformedPacket("PUBLISH", "the topic name runs past the packet")
                try:
                    topic = data[index + 2 : topic_end].decode()
                except UnicodeDecodeError:
                    raise MalformedPacket("PUBLISH", "the topic name is not valid UTF-8") from None
                if not topic or "+" in topic or "#" in topic or "\x00" in topic:
                    raise MalformedPacket("PUBLISH", f"invalid topic name {topic[:100]!r}")
                if qos:
                    packet_id = (data[topic_end] << 8) | data[topic_end + 1]
                    if not packet_id:
                        raise MalformedPacket("PUBLISH", "packet identifier 0 at QoS 1")
                else:
                    packet_id = 0
                    if first & 0x08:
                        raise MalformedPacket("PUBLISH", "the DUP flag set at QoS 0")
                if v5:
                    if at < stop and data[at] == 0:
                        at += 1
                    else:
                        properties, at = _properties(data, at, stop, "PUBLISH")
                        if _TOPIC_ALIAS in properties:
                            raise MalformedPacket("PUBLISH", "a topic alias, which we never allow")
                fields = (topic, data[at:stop], qos, packet_id, bool(first & 1), bool(first & 8))
                append(new_tuple(Publish, fields))
            else:
                append(self._control(first, data[index:stop]))
            pos = stop
        if pos < end:
            rest += data[pos:]
        return out

    def _length(self, data: bytes, index: int, end: int) -> tuple[int, int]:
        """A remaining length of two or more bytes: (length, index after it), or (0, -1) when the
        read ends inside it."""
        value, shift = 0, 0
        for count in range(4):
            if index + count >= end:
                return 0, -1
            byte = data[index + count]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, index + count + 1
            shift += 7
        raise MalformedPacket("fixed header", "a remaining length longer than four bytes")

    def _control(self, first: int, body: bytes) -> Packet:
        kind, flags = first >> 4, first & 0x0F
        name = _NAMES[kind]
        if kind not in (_CONNACK, _PUBACK, _SUBACK, _UNSUBACK, _PINGRESP, _DISCONNECT):
            raise MalformedPacket(name, "a client does not receive this packet type")
        if flags:
            raise MalformedPacket(name, f"reserved flags 0x{flags:x} in the fixed header")
        size = len(body)
        if kind == _PINGRESP:
            if size:
                raise MalformedPacket(name, "a PINGRESP has no body")
            return PingResp()
        if kind == _CONNACK:
            return self._connack(body)
        if kind == _DISCONNECT:
            if not self._v5:
                raise MalformedPacket(name, "an MQTT 3.1.1 server does not send DISCONNECT")
            if not size:
                return Disconnect(0)
            reason = None
            if size > 1:
                properties, stop = _properties(body, 1, size, name)
                if stop != size:
                    raise MalformedPacket(name, "bytes after the properties")
                reason = properties.get(_REASON_STRING)
            return Disconnect(body[0], reason if isinstance(reason, str) else None)
        if size < 2:
            raise MalformedPacket(name, "too short for a packet identifier")
        packet_id = (body[0] << 8) | body[1]
        if kind == _PUBACK:
            if size > 2 and not self._v5:
                raise MalformedPacket(name, "an MQTT 3.1.1 PUBACK is 2 bytes long")
            if size > 3:
                _, stop = _properties(body, 3, size, name)
                if stop != size:
                    raise MalformedPacket(name, "bytes after the properties")
            return PubAck(packet_id, body[2] if size > 2 else 0)
        at = 2
        if self._v5:
            _, at = _properties(body, 2, size, name)
        codes = tuple(body[at:])
        if kind == _SUBACK:
            if not codes:
                raise MalformedPacket(name, "no reason codes")
            return SubAck(packet_id, codes)
        if codes and not self._v5:
            raise MalformedPacket(name, "an MQTT 3.1.1 UNSUBACK is 2 bytes long")
        return UnsubAck(packet_id, codes)

    def _connack(self, body: bytes) -> ConnAck:
        name = "CONNACK"
        if len(body) < 2 or (not self._v5 and len(body) != 2):
            raise MalformedPacket(name, f"{len(body)} bytes long")
        if body[0] & 0xFE:
            raise MalformedPacket(name, "reserved acknowledge flags set")
        present = bool(body[0] & 1)
        if not self._v5:
            code = _CONNACK_311.get(body[1])
            if code is None:
                raise MalformedPacket(name, f"unknown return code {body[1]}")
            return ConnAck(present, code)
        if len(body) == 2:
            raise MalformedPacket(name, "no properties")
        properties, stop = _properties(body, 2, len(body), name)
        if stop != len(body):
            raise MalformedPacket(name, "bytes after the properties")
        receive_maximum = properties.get(_RECEIVE_MAXIMUM, 65_535)
        reason = properties.get(_REASON_STRING)
        return ConnAck(
            present,
            body[1],
            receive_maximum if isinstance(receive_maximum, int) else 65_535,
            reason if isinstance(reason, str) else None,
        )
