"""One MQTT 3.1.1 session on asyncio: a device's own, or a gateway's shared by many devices.

Why not paho or aiomqtt: the per-device mode runs ten thousand sessions in one process, and a
thread (paho's loop) or a handful of tasks (aiomqtt) per session does not fit on two cores.
This is an :class:`asyncio.Protocol`: one object and one socket per session, no task, no thread.
It publishes at QoS 1 with a bounded number of unacknowledged messages, pings on keepalive,
resends what was unacknowledged when it reconnects, and can vanish without DISCONNECT
(:meth:`abort`) so that the broker publishes its will.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable

from civicpulse.mqtt import packets
from simulators.errors import BrokerError
from simulators.mqtt.flow import Flow

_Entry = tuple[bytes, bytes, bool]


class Session(asyncio.Protocol):
    """A QoS 1 publisher; messages queue with :meth:`send` and go out as acknowledgements allow."""

    def __init__(
        self,
        client_id: str,
        *,
        host: str,
        port: int,
        flow: Flow,
        username: str | None = None,
        password: str | None = None,
        will: packets.Will | None = None,
        keepalive: int = 60,
        max_inflight: int = 20,
        tls: ssl.SSLContext | None = None,
        on_lost: Callable[[Session, Exception | None], None] | None = None,
        connect_timeout: float = 30.0,
    ) -> None:
        self.client_id = client_id
        self.host, self.port = host, port
        self._connect_packet = packets.connect(
            client_id, keepalive=keepalive, username=username, password=password, will=will
        )
        self._keepalive = keepalive
        self._max_inflight = max(1, max_inflight)
        self._tls = tls
        self._flow = flow
        self._on_lost = on_lost
        self._connect_timeout = connect_timeout
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._queue: collections.deque[_Entry] = collections.deque()
        self._inflight: dict[int, _Entry] = {}
        self._next_id = 0
        self._connack: asyncio.Future[int] | None = None
        self._ping: asyncio.TimerHandle | None = None
        self._paused = False
        self._leaving = False
        self._closed = asyncio.Event()
        self._closed.set()
        self.connected = False
        self.acked = 0

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection and wait for CONNACK; raises :class:`BrokerError` on refusal."""
        loop = asyncio.get_running_loop()
        if self._transport is not None:  # a previous connection still closing
            self._transport.abort()
        await self._closed.wait()
        self._leaving = False
        self._connack = loop.create_future()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(lambda: self, self.host, self.port, ssl=self._tls)
                code = await self._connack
        except (OSError, TimeoutError) as error:
            self._drop_transport()
            raise BrokerError(
                self.client_id, f"cannot connect to {self.host}:{self.port}: {error!r}"
            ) from error
        if code != 0:
            self._drop_transport()
            raise BrokerError(
                self.client_id, f"connection refused: {packets.CONNACK_CODES.get(code, code)}"
            )
        self.connected = True
        self._arm_ping()
        self._pump()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._closed.clear()
        self._buffer.clear()
        self._paused = False
        transport.write(self._connect_packet)

    def connection_lost(self, exc: Exception | None) -> None:
        was_connected = self.connected
        self.connected = False
        self._transport = None
        self._closed.set()
        if self._ping is not None:
            self._ping.cancel()
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(
                ConnectionError(f"connection closed before CONNACK: {exc!r}")
            )
        # Unacknowledged messages go back to the front of the queue, to be resent on reconnect.
        self._queue.extendleft(reversed(list(self._inflight.values())))
        self._inflight.clear()
        if was_connected and not self._leaving and self._on_lost is not None:
            self._on_lost(self, exc)

    def abort(self) -> None:
        """Vanish without DISCONNECT (the broker then publishes the will); queued messages stay."""
        self._leaving = True
        if self._transport is not None:
            self._transport.abort()

    async def disconnect(self) -> None:
        """Wait until every queued message is acknowledged, then DISCONNECT and close."""
        if self.connected:
            await self._flow.until(lambda: not self._queue and not self._inflight)
        self._leaving = True
        if self._transport is not None:
            self._transport.write(packets.DISCONNECT_PACKET)
            self._transport.close()
        self.connected = False
        await self._closed.wait()

    def _drop_transport(self) -> None:
        self._leaving = True
        if self._transport is not None:
            self._transport.abort()

    # -- publishing ------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Messages queued or awaiting PUBACK."""
        return len(self._queue) + len(self._inflight)

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue a QoS 1 message; it is sent when the in-flight window has room."""
        self._queue.append((topic.encode(), payload, retain))
        self._flow.add(1)
        if self.connected:
            self._pump()

    def discard_queue(self) -> int:
        """Forget messages not yet sent (a device that never comes back); returns how many."""
        count = len(self._queue)
        self._queue.clear()
        self._flow.done(count, acked=False)
        return count

    def _pump(self) -> None:
        transport = self._transport
        if transport is None or self._paused or not self.connected:
            return
        while self._queue and len(self._inflight) < self._max_inflight:
            entry = self._queue.popleft()
            self._next_id = self._next_id % 65535 + 1
            while self._next_id in self._inflight:
                self._next_id = self._next_id % 65535 + 1
            self._inflight[self._next_id] = entry
            topic, payload, retain = entry
            transport.write(packets.publish(topic, payload, packet_id=self._next_id, retain=retain))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._pump()

    # -- receiving ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer.extend(data)
        acked = 0
        for kind, body in packets.split(self._buffer):
            packet_type = kind & 0xF0
            if packet_type == packets.PUBACK:
                if self._inflight.pop(int.from_bytes(body[:2], "big"), None) is not None:
                    acked += 1
            elif packet_type == packets.CONNACK and self._connack and not self._connack.done():
                self._connack.set_result(body[1] if len(body) > 1 else 255)
        if acked:
            self.acked += acked
            self._flow.done(acked)
            self._pump()

    def _arm_ping(self) -> None:
        if self._keepalive <= 0:
            return
        loop = asyncio.get_running_loop()
        self._ping = loop.call_later(self._keepalive * 0.75, self._send_ping)

    def _send_ping(self) -> None:
        if self._transport is not None and self.connected:
            self._transport.write(packets.PINGREQ_PACKET)
            self._arm_ping()
