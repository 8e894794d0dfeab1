"""The firmware's MQTT 3.1.1 client: exact packet bytes, a real broker, and a scripted peer for
what a healthy broker never does (lose a PUBACK, refuse a login)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from civicpulse.mqtt.client import BrokerAddress
from tests.firmware.harness import Listener, library

cpfw = library("mqtt", "mqttpkt")
pkt = cpfw.mqttpkt

# -- packet bytes (OASIS MQTT 3.1.1) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16383, "ff7f"),
        (16384, "808001"),
        (2097151, "ffff7f"),
        (2097152, "80808001"),
        (268435455, "ffffff7f"),
    ],
)
def test_remaining_length_boundaries(n: int, encoded: str) -> None:
    assert pkt.remaining_length(n).hex() == encoded


def test_remaining_length_limit() -> None:
    with pytest.raises(ValueError, match="256 MiB"):
        pkt.remaining_length(268435456)


def test_connect_bytes() -> None:
    packet = pkt.connect("dev", 60, "dev", "pw", ("t/s", b"offline", 1, True))
    expected = bytes.fromhex(
        "10"  # CONNECT
        "26"  # remaining length: 10 header bytes + 28 payload bytes
        "00044d515454"  # "MQTT"
        "04"  # protocol level 3.1.1
        "ee"  # username, password, will retain, will QoS 1, will, clean session
        "003c"  # keepalive 60 s
        "0003646576"  # client id
        "0003742f73"  # will topic
        "00076f66666c696e65"  # will message
        "0003646576"  # username
        "00027077"  # password
    )
    assert packet == expected
    assert pkt.connect("x", 0)[9] == 0x02  # anonymous, no will: clean session only


def test_publish_bytes() -> None:
    assert pkt.publish("a/b", b"hi", qos=1, retain=True, pid=10) == bytes.fromhex(
        "33090003612f62000a6869"
    )
    assert pkt.publish("a", b"", qos=0)[0] == 0x30
    assert pkt.publish("a", b"", qos=1, pid=1, dup=True)[0] == 0x3A
    assert pkt.pingreq() == b"\xc0\x00"
    assert pkt.disconnect() == b"\xe0\x00"
    assert pkt.parse_connack(b"\x01\x00") == (True, 0)
    assert pkt.parse_puback(b"\x01\x02") == 258


# -- against the real broker -------------------------------------------------------------------


def _client(mqtt_url: str, **kw: object) -> Any:
    address = BrokerAddress.parse(mqtt_url)
    return cpfw.mqtt.MQTTClient(f"fw-{uuid.uuid4().hex[:8]}", address.host, address.port, **kw)


def _poll_until(client: Any, done: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        client.poll(20)


@pytest.fixture
def listener(mqtt_url: str, prefix: str) -> Iterator[Listener]:
    watcher = Listener(mqtt_url, f"fwtest/{prefix}/#")
    yield watcher
    watcher.close()


@pytest.mark.mosquitto_only
def test_broker_accepts_what_the_client_sends(
    mqtt_url: str, prefix: str, listener: Listener
) -> None:
    client = _client(mqtt_url, username="someone", password="anything")
    client.connect()
    payloads = [b"", b"x", bytes(range(256)) * 80, b"q" * 130]  # 3- and 2-byte lengths
    pids = [client.publish(f"fwtest/{prefix}/d", p, qos=1) for p in payloads]
    assert all(pids) and len(set(pids)) == len(pids)
    assert client.publish(f"fwtest/{prefix}/q0", b"zero", qos=0) == 0
    _poll_until(client, lambda: not client.inflight)
    client.disconnect()
    listener.wait(lambda m: len(m) == 5)
    assert [p for p, _ in listener.messages] == [*payloads, b"zero"]


def test_keepalive_pings_keep_a_quiet_connection_open(mqtt_url: str) -> None:
    client = _client(mqtt_url, keepalive_ms=1000, response_ms=800)
    client.connect()
    deadline = time.monotonic() + 2.0  # the broker drops a silent client after 1.5 s
    while time.monotonic() < deadline:
        client.poll(50)
    pid = client.publish("fwtest/alive", b"still here", qos=1)
    _poll_until(client, lambda: not client.pending(pid))
    client.disconnect()


@pytest.mark.mosquitto_only
def test_will_only_on_an_unclean_end(mqtt_url: str, prefix: str, listener: Listener) -> None:
    clean = _client(mqtt_url, will=(f"fwtest/{prefix}/clean", b"offline", 1, False))
    clean.connect()
    clean.disconnect()
    dirty = _client(mqtt_url, will=(f"fwtest/{prefix}/dirty", b"offline", 1, False))
    dirty.connect()
    dirty.close()  # no DISCONNECT, as when the link dies
    listener.wait(lambda m: len(m) >= 1)
    time.sleep(0.3)
    assert listener.messages == [(b"offline", False)]


# -- against a scripted peer -------------------------------------------------------------------


class Peer:
    """Accepts one client, answers CONNECT with ``connack_code`` and lets ``on_publish`` decide
    whether to acknowledge each PUBLISH; records first bytes and packet ids."""

    def __init__(self, connack_code: int = 0, on_publish: Callable[[int], bool] = bool) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.publishes: list[tuple[int, int]] = []  # (first byte, packet id)
        self._code = connack_code
        self._on_publish = on_publish
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            try:
                while True:
                    first, body = self._read(conn)
                    if first & 0xF0 == pkt.CONNECT:
                        conn.sendall(bytes([0x20, 2, 0, self._code]))
                    elif first & 0xF0 == pkt.PUBLISH:
                        topic_length = int.from_bytes(body[:2], "big")
                        pid = int.from_bytes(body[2 + topic_length : 4 + topic_length], "big")
                        self.publishes.append((first, pid))
                        if self._on_publish(len(self.publishes)):
                            conn.sendall(bytes([0x40, 2]) + pid.to_bytes(2, "big"))
                    elif first == pkt.PINGREQ:
                        conn.sendall(b"\xd0\x00")
            except (OSError, IndexError):
                return

    @staticmethod
    def _read(conn: socket.socket) -> tuple[int, bytes]:
        first = conn.recv(1)[0]
        length, shift = 0, 0
        while True:
            byte = conn.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            body += conn.recv(length - len(body))
        return first, body

    def close(self) -> None:
        self.server.close()


def test_unacknowledged_publish_is_resent_with_dup_then_the_link_declared_dead() -> None:
    peer = Peer(on_publish=lambda n: n == 3)  # the first two PUBACKs are "lost"
    client = cpfw.mqtt.MQTTClient("c", "127.0.0.1", peer.port, response_ms=100, max_repubs=2)
    client.connect()
    pid = client.publish("t", b"reading", qos=1)
    _poll_until(client, lambda: not client.pending(pid))
    assert peer.publishes == [(0x32, pid), (0x3A, pid), (0x3A, pid)]  # QoS 1, then DUP set
    peer._on_publish = lambda n: False  # from now on nothing is acknowledged
    client.publish("t", b"another", qos=1)
    with pytest.raises(OSError, match="no PUBACK after 2 resends"):
        _poll_until(client, lambda: False)
    client.close()
    peer.close()


def test_refused_connection_names_the_reason() -> None:
    peer = Peer(connack_code=4)
    client = cpfw.mqtt.MQTTClient("c", "127.0.0.1", peer.port, username="u", password="wrong")
    with pytest.raises(cpfw.mqtt.MQTTError, match="bad user name or password") as caught:
        client.connect()
    assert caught.value.code == 4
    assert not client.connected
    peer.close()
