"""The broker side of ingest on asyncio: civicpulse.mqtt.wire over one socket, no thread.

Each read takes what the socket holds (up to 256 KiB), every PUBLISH in it is parsed and queued,
and a committed batch is acknowledged with one write of its PUBACKs: per message, no select, no
read and no send. paho (ingest.mqtt) spent most of ingest's CPU on exactly those, on its own
thread.

Bounded memory: Receive Maximum asks the broker to stop at that many unacknowledged messages,
but Mosquitto before 2.0.13 ignores it on a resumed session and sends its whole backlog. So the
source bounds itself: when its queue reaches the limit it stops reading the socket, and TCP's
flow control holds the broker back until ingest has taken from the queue.

The same contract as :class:`ingest.mqtt.MqttSource`: acknowledgements only on request, after
commit, and only on the connection the message came on (``epoch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable

from civicpulse.mqtt import wire
from civicpulse.mqtt.client import BrokerAddress
from civicpulse.mqtt.wire import new_tuple
from devices.contract import STATUS_FILTER, TELEMETRY_FILTER
from devices.credentials import INGEST_STOPPING_TOPIC
from ingest._mqtt_common import (
    DROPPED_TOPIC,
    REFUSAL_HINTS,
    UPTIME_TOPIC,
    sys_counts,
    unreachable_reason,
)
from ingest.prepare import InMessage

logger = logging.getLogger(__name__)

KEEPALIVE_S = 30
ANSWER_WARNING_S = 10.0
CONNACK_TIMEOUT_S = 60.0
BARRIER_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: bytes in through the decoder, packets out as written."""

    def __init__(self, source: AsyncioSource, epoch: int, version: int) -> None:
        self.source = source
        self.epoch = epoch
        self.decoder = wire.Decoder(version=version)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.connack: asyncio.Future[wire.ConnAck] = loop.create_future()
        self.waiting: dict[int, asyncio.Future[wire.Packet]] = {}
        self.paused = False
        self.discard = False
        """Stopping: publishes that still arrive are not queued (the broker keeps them)."""
        self.last_read = time.monotonic()
        self.disconnect: wire.Disconnect | None = None
        self.error: wire.MalformedPacket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        try:
            packets = self.decoder.feed(data)
        except wire.MalformedPacket as error:
            self.error = error
            self.abort()
            return
        self.source._received(self, packets)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.connack.done():
            self.connack.cancel()
        for future in self.waiting.values():
            if not future.done():
                future.cancel()

    def control(self, packet: wire.Packet) -> None:
        if isinstance(packet, wire.ConnAck):
            if not self.connack.done():
                self.connack.set_result(packet)
        elif isinstance(packet, wire.SubAck | wire.UnsubAck | wire.PubAck):
            future = self.waiting.pop(packet.packet_id, None)
            if future is not None and not future.done():
                future.set_result(packet)
        elif isinstance(packet, wire.Disconnect):
            self.disconnect = packet  # the broker closes the connection; so do we (§4.13)
            if self.transport is not None:
                self.transport.close()

    def expect(self, packet_id: int) -> asyncio.Future[wire.Packet]:
        future: asyncio.Future[wire.Packet] = asyncio.get_running_loop().create_future()
        self.waiting[packet_id] = future
        return future

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = False
            self.last_read = time.monotonic()
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class AsyncioSource:
    """Receives contract topics on a persistent session and acknowledges only on request."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        share_group: str | None,
        receive_maximum: int,
        session_expiry: int,
        protocol: str = "5",
        drain: bool = False,
    ) -> None:
        self._address = address
        self._client_id = client_id
        self._version = wire.MQTT_5 if protocol == "5" else wire.MQTT_311
        self._receive_maximum = min(max(receive_maximum, 1), 65_535)
        self._limit = max(receive_maximum, 1)
        self._session_expiry = session_expiry
        self._drain = drain
        self._filters = [TELEMETRY_FILTER, STATUS_FILTER]
        if share_group:
            self._filters = [f"$share/{share_group}/{f}" for f in self._filters]
        self._queue: deque[InMessage] = deque()
        self._epoch = 0
        self._conn: _Connection | None = None
        self._connected = False
        self._subscribed = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._wakeup: Callable[[], None] | None = None
        self._signalled = False
        self._sys: dict[str, bytes] = {}
        self._sys_new = False
        self._uptimes = 0  # uptime samples received (see sys_counts)
        self._packet_id = 0
        self._retry_in = 1.0
        self.connects = 0
        self.failed_attempts = 0
        self.taken_over = False
        """Another client connected with our client id and took the session over."""
        self.stale_dropped = 0
        """Messages of a lost connection dropped unacknowledged (the broker redelivers them)."""
        self.last_received = 0.0
        self.ready_at = 0.0
        self.first_ready_at: float | None = None
        """When this process's first subscription was confirmed (Unix s)."""

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ready(self) -> bool:
        return self._subscribed.is_set()

    @property
    def url(self) -> str:
        return self._address.url

    def start(self, wakeup: Callable[[], None]) -> None:
        """Connect in the background (retrying for ever, saying why) and start receiving."""
        self._wakeup = wakeup
        logger.info(
            "connecting to %s as %r (MQTT %s, persistent session)",
            self.url,
            self._client_id,
            "5" if self._version == wire.MQTT_5 else "3.1.1",
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-source")

    async def wait_subscribed(self, seconds: float) -> bool:
        """Whether the broker has confirmed the subscriptions within ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), seconds)
        return self._subscribed.is_set()

    def drain(self, limit: int) -> list[InMessage]:
        """Take up to ``limit`` received messages of the current connection, oldest first."""
        self._signalled = False
        queue = self._queue
        count = min(limit, len(queue))
        taken = [queue.popleft() for _ in range(count)]
        conn = self._conn
        if conn is not None and conn.paused and len(queue) < self._limit and not self._closing:
            conn.resume()
        return taken

    def pending(self) -> int:
        return len(self._queue)

    def oldest_received_at(self) -> float | None:
        queue = self._queue
        return queue[0].received_at if queue else None

    def ack(self, messages: Iterable[InMessage]) -> int:
        """Acknowledge committed messages received on the current connection, in one write;
        returns how many."""
        conn = self._conn
        if conn is None or not conn.open:
            return 0
        epoch = conn.epoch
        ids = [m.mid for m in messages if m.epoch == epoch and m.qos]
        if ids:
            conn.write(wire.pubacks(ids))
        return len(ids)

    def broker_counts(self) -> tuple[int, float] | None:
        """The broker's dropped-message count and uptime (seconds), when a new sample of both
        has arrived since the last call."""
        if not self._sys_new:
            return None
        self._sys_new = False
        return sys_counts(self._sys, self._uptimes)

    def warn_if_unanswered(self) -> None:
        """Nothing to do: the connection task says so itself (see :meth:`_answer`)."""

    async def close(self, *, end_session: bool = False) -> None:
        """Disconnect cleanly; the persistent session keeps what was not acknowledged, unless
        ``end_session`` (MQTT 5: session expiry 0 on DISCONNECT) discards the session.

        Closing a socket with deliveries unread on it makes the kernel send a TCP reset, and the
        broker discards what it had not read yet, acknowledgements included (a third of 4,000,
        measured on Mosquitto 2.0.11). So: a QoS 1 publish whose PUBACK says the broker has read
        every acknowledgement before it, then DISCONNECT, then read (and discard) until the
        broker closes, so nothing is left unread when the socket closes."""
        self._closing = True
        conn = self._conn
        if conn is not None and conn.open and self._connected:
            conn.discard = True
            conn.resume()
            packet_id = self._next_packet_id()
            barrier = conn.expect(packet_id)
            conn.write(
                wire.publish(INGEST_STOPPING_TOPIC, b"", packet_id=packet_id, version=self._version)
            )
            try:
                await asyncio.wait_for(barrier, BARRIER_TIMEOUT_S)
            except (TimeoutError, asyncio.CancelledError):
                if conn.open:
                    logger.warning(
                        "the broker did not confirm the last acknowledgements within %.0f s; it"
                        " may deliver some committed messages again (stored once all the same)",
                        BARRIER_TIMEOUT_S,
                    )
            expiry = 0 if end_session else None
            conn.write(wire.disconnect(version=self._version, session_expiry=expiry))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(conn.closed), CLOSE_TIMEOUT_S)
            if conn.transport is not None:
                conn.transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # The connection task.

    async def _run(self) -> None:
        while not self._closing:
            delay = await self._session()
            if self._closing or self.taken_over:
                return
            await asyncio.sleep(delay)

    def _next_delay(self) -> float:
        """1, 2, 4 … 30 s between failed attempts, as paho's reconnect_delay_set(1, 30)."""
        self.failed_attempts += 1
        self._retry_in = float(min(30, 2 ** (self.failed_attempts - 1)))
        return self._retry_in

    async def _session(self) -> float:
        """One connection, from TCP connect to its loss; returns the wait before the next."""
        loop = asyncio.get_running_loop()
        address = self._address
        context = ssl.create_default_context() if address.tls else None
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(self, self._epoch, self._version),
                address.host,
                address.port,
                ssl=context,
            )
        except OSError as error:
            if isinstance(error, socket.gaierror):
                reason = f"unknown host {address.host!r} ({error.strerror or error})"
            elif isinstance(error, ssl.SSLCertVerificationError):
                reason = (
                    f"its TLS certificate is not trusted ({error.verify_message}); add the"
                    " authority that signed it to this machine's trust store, or name it in"
                    " SSL_CERT_FILE"
                )
            elif isinstance(error, ssl.SSLError):
                reason = f"TLS failed ({error.reason or error}): is {address.port} a TLS port?"
            elif error.errno:
                reason = os.strerror(error.errno)  # asyncio's own text names no cause
            else:  # several addresses failed: ask once more, for one reason in words
                reason = await asyncio.to_thread(unreachable_reason, address.host, address.port)
            delay = self._next_delay()
            logger.warning(
                "cannot reach the broker at %s: %s; retrying in %.0f s", self.url, reason, delay
            )
            return delay
        self._conn = conn
        accepted = False
        pinger: asyncio.Task[None] | None = None
        try:
            accepted = await self._connect(conn)
            if accepted:
                # From here to the connection's end, including while the SUBACK waits behind
                # a backlog that is read only as fast as ingest stores it.
                pinger = asyncio.create_task(self._keep_alive(conn))
                await self._subscribe(conn)
                await pinger
        finally:
            if pinger is not None and not pinger.done():
                pinger.cancel()
            if conn.transport is not None and not self._closing:
                conn.transport.close()
            self._lost(conn)
        return 1.0 if accepted else self._retry_in

    async def _connect(self, conn: _Connection) -> bool:
        """CONNECT; whether the broker accepted it (if not, the delay is chosen and said)."""
        address = self._address
        conn.write(
            wire.connect(
                self._client_id,
                version=self._version,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                session_expiry=self._session_expiry,
                receive_maximum=self._receive_maximum,
                username=address.username,
                password=address.password,
            )
        )
        connack = await self._answer(conn, conn.connack)
        if connack is None:
            return False
        if connack.failed:
            reason = wire.reason_name(connack.reason_code)
            hint = REFUSAL_HINTS.get(reason, "")
            logger.error(
                "the broker at %s refused the connection: %s%s; retrying in %.0f s",
                self.url,
                reason,
                f" ({hint})" if hint else "",
                self._next_delay(),
            )
            return False
        self.connects += 1
        self.failed_attempts = 0
        self._connected = True
        logger.info(
            "connected to mqtt://%s:%d (session present: %s)",
            address.host,
            address.port,
            connack.session_present,
        )
        return True

    async def _subscribe(self, conn: _Connection) -> None:
        """SUBSCRIBE (UNSUBSCRIBE when retiring the session) and wait for the answer."""
        packet_id = self._next_packet_id()
        answer = conn.expect(packet_id)
        if self._drain:
            # Stop the broker routing anything new to this session; what it holds still comes.
            conn.write(wire.unsubscribe(packet_id, self._filters, version=self._version))
        else:
            once = 1  # retained status only for a new subscription, not on every reconnect
            subscriptions = [
                (self._filters[0], wire.subscription_options(1)),
                (self._filters[1], wire.subscription_options(1, retain_handling=once)),
                (DROPPED_TOPIC, wire.subscription_options(0)),
                (UPTIME_TOPIC, wire.subscription_options(0)),
            ]
            conn.write(wire.subscribe(packet_id, subscriptions, version=self._version))
        try:
            # No timeout: on a resumed session the SUBACK comes after the backlog the broker
            # sends first, which the source reads only as fast as ingest stores it. A broker
            # that is gone is found by the keep-alive (PINGREQ keeps going meanwhile).
            reply = await answer
        except asyncio.CancelledError:
            if self._closing or not answer.cancelled():
                raise
            return  # the connection was lost; _lost says so
        if isinstance(reply, wire.UnsubAck):
            logger.info("unsubscribed from %s to retire this session", ", ".join(self._filters))
            self.ready_at = time.time()
        elif isinstance(reply, wire.SubAck):
            failed = [wire.reason_name(c) for c in reply.reason_codes if c >= 0x80]
            if failed:
                logger.error("the broker refused subscriptions: %s", failed)
                return  # as paho's source: connected, never ready
            logger.info("subscribed to %s", ", ".join(self._filters))
            if self.first_ready_at is None:
                self.first_ready_at = time.time()
        self._subscribed.set()

    async def _answer(
        self, conn: _Connection, connack: asyncio.Future[wire.ConnAck]
    ) -> wire.ConnAck | None:
        """The CONNACK, saying so once if it is slow in coming (a 3.1.1-only broker may keep
        an MQTT 5 CONNECT unanswered)."""
        waited = 0.0
        for limit in (ANSWER_WARNING_S, CONNACK_TIMEOUT_S - ANSWER_WARNING_S):
            try:
                return await asyncio.wait_for(asyncio.shield(connack), limit)
            except asyncio.CancelledError:
                if self._closing or not connack.cancelled():
                    raise
                delay = self._next_delay()
                logger.warning(
                    "cannot reach the broker at %s: the connection was lost while connecting;"
                    " retrying in %.0f s",
                    self.url,
                    delay,
                )
                return None
            except TimeoutError:
                waited += limit
                if waited < CONNACK_TIMEOUT_S:
                    hint = (
                        "; a broker that speaks only MQTT 3.1.1 (amqtt, older brokers) may not"
                        " answer an MQTT 5 CONNECT: set CIVICPULSE_MQTT_PROTOCOL=3.1.1"
                        if self._version == wire.MQTT_5
                        else ""
                    )
                    logger.error(
                        "no answer from the broker at %s %.0f s after connecting%s",
                        self.url,
                        ANSWER_WARNING_S,
                        hint,
                    )
        self._next_delay()
        return None

    async def _keep_alive(self, conn: _Connection) -> None:
        """PINGREQ every half keep-alive until the connection ends; a broker that sends nothing
        for one and a half keep-alives while we read is gone (a half-open connection)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(conn.closed), KEEPALIVE_S / 2)
            if conn.closed.done():
                return
            if not conn.paused and time.monotonic() - conn.last_read > KEEPALIVE_S * 1.5:
                logger.warning("no packet from the broker for %.0f s", KEEPALIVE_S * 1.5)
                conn.abort()
                return
            conn.write(wire.PINGREQ)

    def _lost(self, conn: _Connection) -> None:
        """The connection is gone: what it delivered and was not acknowledged is redelivered."""
        was_connected = self._connected
        self._epoch += 1
        self._conn = None
        self._connected = False
        self._subscribed.clear()
        self.stale_dropped += len(self._queue)
        self._queue.clear()
        if conn.error is not None:
            logger.error("%s; reconnecting", conn.error)
        reason = conn.disconnect
        if reason is not None and reason.reason_code == wire.SESSION_TAKEN_OVER:
            # Two processes with one client id would take the session from each other for
            # ever, each reconnect cutting the other off. Stop reconnecting; ingest exits.
            self.taken_over = True
            if self._wakeup is not None:
                self._wakeup()
            return
        if self._closing or not was_connected:
            return
        if reason is not None and reason.reason_code >= 0x80:
            logger.warning(
                "disconnected from the broker: %s",
                reason.reason_string or wire.reason_name(reason.reason_code),
            )
        elif reason is None and conn.error is None:
            logger.warning("disconnected from the broker: connection lost")
        else:
            logger.info("disconnected from the broker")

    def _next_packet_id(self) -> int:
        self._packet_id = self._packet_id % 65_535 + 1
        return self._packet_id

    # Called by the connection for every read.

    def _received(self, conn: _Connection, packets: list[wire.Packet]) -> None:
        queue = self._queue
        epoch = conn.epoch
        now = time.time()
        queued = 0
        for packet in packets:
            if type(packet) is wire.Publish:
                topic = packet[0]
                if topic[0] == "$":
                    self._sys[topic] = packet[1]
                    self._sys_new = True
                    self._uptimes += topic == UPTIME_TOPIC
                elif not conn.discard:
                    fields = (topic, packet[1], packet[3], packet[2], epoch, now)
                    queue.append(new_tuple(InMessage, fields))
                    queued += 1
            else:
                conn.control(packet)
        if queued:
            self.last_received = now
            if len(queue) >= self._limit:
                conn.pause()  # TCP back-pressure: the broker waits until ingest catches up
            if not self._signalled and self._wakeup is not None:
                self._signalled = True
                self._wakeup()
