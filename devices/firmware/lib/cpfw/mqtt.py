"""A small MQTT 3.1.1 publisher over a socket, for MicroPython and CPython alike.

Written for CivicPulse devices after studying how ``mqtt_as`` keeps a link healthy (pings well
inside the keepalive, QoS 1 retransmission, treating silence as failure) but much smaller: no
subscriptions, no asyncio, one thread. Every failure surfaces as ``OSError`` or
:class:`MQTTError`; the caller closes the client and reconnects with backoff.
"""

import select
import socket

from cpfw import mqttpkt
from cpfw.compat import ticks_diff, ticks_ms


class MQTTError(Exception):
    """The broker refused or broke the protocol; ``code`` is the CONNACK return code if any."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class MQTTClient:
    """One connection. ``will`` is ``(topic, message, qos, retain)``.

    QoS 1 messages stay in :attr:`inflight` until their PUBACK; one not acknowledged within
    ``response_ms`` is sent again with DUP set (MQTT 3.1.1 allows resending on the same
    connection), and after ``max_repubs`` resends the connection is declared dead.
    """

    def __init__(
        self,
        client_id,
        host,
        port=1883,
        username=None,
        password=None,
        keepalive_ms=60000,
        will=None,
        ca=None,
        cert=None,
        timeout_ms=10000,
        response_ms=5000,
        max_repubs=3,
    ):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.keepalive_ms = keepalive_ms
        self.will = will
        self.ca = ca  # CA certificate bytes (PEM or DER): enables TLS
        self.cert = cert  # (certificate path, key path): a client certificate, or None
        self.timeout_ms = timeout_ms
        self.response_ms = response_ms
        self.max_repubs = max_repubs
        self.inflight = {}  # pid -> [packet, sent ticks, resends]
        self._sock = None
        self._poller = None
        self._pid = 0
        self._last_rx = 0
        self._ping_sent = None

    # -- connection ---------------------------------------------------------------------------

    def connect(self):
        """Open the socket, send CONNECT and wait for CONNACK (all within ``timeout_ms``)."""
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self.port, 0, socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(self.timeout_ms / 1000)
            sock.connect(address)
            if self.ca is not None:
                sock = _wrap_tls(sock, self.host, self.ca, self.cert)
            self._sock = sock
            self._write(
                mqttpkt.connect(
                    self.client_id,
                    self.keepalive_ms // 1000,
                    self.username,
                    self.password,
                    self.will,
                )
            )
            kind, body = self._read_packet()
            if kind != mqttpkt.CONNACK:
                raise MQTTError(f"expected CONNACK, got packet type 0x{kind:02x}")
            code = mqttpkt.parse_connack(body)[1]
            if code:
                raise MQTTError(
                    "connection refused: " + mqttpkt.CONNACK_REASONS.get(code, str(code)), code
                )
        except BaseException:
            self._sock = None
            sock.close()
            raise
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        self._last_rx = ticks_ms()
        self._ping_sent = None
        self.inflight = {}

    @property
    def connected(self):
        return self._sock is not None

    def disconnect(self):
        """Clean end: the broker discards the will."""
        if self._sock is not None:
            try:
                self._write(mqttpkt.disconnect())
            finally:
                self.close()

    def close(self):
        """Drop the socket without DISCONNECT: the broker publishes the will."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, topic, payload, qos=1, retain=False):
        """Send a message; returns its packet id (0 for QoS 0)."""
        if qos not in (0, 1):
            raise ValueError("QoS 0 or 1 only")
        pid = self._next_pid() if qos else 0
        packet = mqttpkt.publish(topic, payload, qos, retain, pid)
        self._write(packet)
        if qos:
            self.inflight[pid] = [packet, ticks_ms(), 0]  # a bytearray of our own
        return pid

    def pending(self, pid):
        return pid in self.inflight

    def poll(self, wait_ms=0):
        """Handle what the broker sent (waiting up to ``wait_ms`` for it), resend unacknowledged
        messages and keep the connection alive. Returns after the first packet or the wait."""
        if self._sock is None:
            raise OSError("not connected")
        if self._readable(max(0, wait_ms)):
            self._handle(*self._read_packet())
            for _ in range(16):  # drain what already arrived, boundedly
                if not self._readable(0):
                    break
                self._handle(*self._read_packet())
        self._upkeep()

    def _readable(self, wait_ms):
        # A CPython TLS socket may hold decrypted bytes that poll() cannot see.
        pending = getattr(self._sock, "pending", None)
        if pending is not None and pending():
            return True
        return bool(self._poller.poll(wait_ms))

    def _handle(self, kind, body):
        self._last_rx = ticks_ms()
        if kind == mqttpkt.PUBACK:
            self.inflight.pop(mqttpkt.parse_puback(body), None)
        elif kind == mqttpkt.PINGRESP:
            self._ping_sent = None
        # Anything else (we subscribe to nothing) is ignored.

    def _upkeep(self):
        now = ticks_ms()
        for entry in self.inflight.values():
            if ticks_diff(now, entry[1]) >= self.response_ms:
                if entry[2] >= self.max_repubs:
                    raise OSError(f"no PUBACK after {entry[2]} resends")
                entry[0][0] |= mqttpkt.DUP
                entry[1] = now
                entry[2] += 1
                self._write(entry[0])
        if self._ping_sent is not None:
            if ticks_diff(now, self._ping_sent) >= self.response_ms:
                raise OSError("no PINGRESP")
        # Ping at half the keepalive after the last thing heard: that keeps the broker from
        # timing us out and notices a dead link well before the broker would.
        elif ticks_diff(now, self._last_rx) >= self.keepalive_ms // 2:
            self._write(mqttpkt.pingreq())
            self._ping_sent = now

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.inflight:
                return self._pid

    # -- socket I/O ---------------------------------------------------------------------------

    def _write(self, data):
        sock = self._sock
        if sock is None:
            raise OSError("not connected")
        # CPython sockets have sendall; MicroPython TLS sockets only write (which writes all).
        send = getattr(sock, "sendall", None) or sock.write
        send(data)

    def _read_exact(self, n):
        sock = self._sock
        recv = getattr(sock, "recv", None) or sock.read
        out = b""
        while len(out) < n:
            chunk = recv(n - len(out))
            if not chunk:
                raise OSError("connection closed by the broker")
            out += chunk
        return out

    def _read_packet(self):
        kind = self._read_exact(1)[0] & 0xF0
        length, shift = 0, 0
        for _ in range(4):
            byte = self._read_exact(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            raise MQTTError("malformed remaining length")
        return kind, self._read_exact(length) if length else b""


def _wrap_tls(sock, host, ca, cert):
    """TLS that verifies the broker against ``ca`` and, if given, presents a client certificate
    (the production listener takes the device id from its common name)."""
    import ssl  # imported here: only TLS devices pay for the module

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    # CPython wants PEM as str and DER as bytes; MicroPython takes either.
    context.load_verify_locations(cadata=ca.decode() if ca[:5] == b"-----" else ca)
    if cert is not None:
        context.load_cert_chain(cert[0], cert[1])
    return context.wrap_socket(sock, server_hostname=host)
