"""MQTT 3.1.1 packets as bytes, without I/O (OASIS MQTT 3.1.1, section 3).

Only what a publishing device needs: CONNECT (with will, credentials and keepalive), PUBLISH,
PINGREQ, DISCONNECT, and reading CONNACK/PUBACK/PINGRESP.
"""

import struct

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0
DUP = 0x08

CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


def remaining_length(n):
    """The variable-length "remaining length" field (1-4 bytes, 7 bits each, low first)."""
    if not 0 <= n <= 268435455:
        raise ValueError("MQTT packets are limited to 256 MiB")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(data):
    if isinstance(data, str):
        data = data.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first_byte, body):
    return bytes([first_byte]) + remaining_length(len(body)) + body


def connect(client_id, keepalive_s, username=None, password=None, will=None, clean=True):
    """``will`` is ``(topic, message, qos, retain)`` or ``None``."""
    flags = 0x02 if clean else 0
    payload = _string(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _string(topic) + _string(message)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    header = _string("MQTT") + struct.pack("!BBH", 4, flags, keepalive_s)
    return _packet(CONNECT, header + payload)


def publish(topic, payload, qos=0, retain=False, pid=0, dup=False):
    """A bytearray, so that a resend can set DUP in place. The payload is copied once, into a
    packet allocated at its full size: a backlog batch is the largest block a device allocates,
    and each extra copy needs another free block that large on a heap full of queued readings."""
    first = PUBLISH | (qos << 1) | (0x01 if retain else 0) | (DUP if dup else 0)
    head = _string(topic)
    if qos:
        head += struct.pack("!H", pid)
    head = bytes([first]) + remaining_length(len(head) + len(payload)) + head
    packet = bytearray(len(head) + len(payload))
    packet[: len(head)] = head
    packet[len(head) :] = payload
    return packet


def pingreq():
    return bytes([PINGREQ, 0])


def disconnect():
    return bytes([DISCONNECT, 0])


def parse_connack(body):
    """``(session_present, return_code)``."""
    if len(body) != 2:
        raise ValueError("CONNACK must have 2 bytes")
    return bool(body[0] & 1), body[1]


def parse_puback(body):
    if len(body) != 2:
        raise ValueError("PUBACK must have 2 bytes")
    return struct.unpack("!H", body)[0]
