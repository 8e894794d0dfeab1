"""The broker side of ingest: a paho-mqtt 2.x client with manual acknowledgements.

paho runs its network loop in its own thread; received messages go to a deque that the ingest
loop drains. A message is acknowledged (PUBACK) only by :meth:`MqttSource.ack`, which ingest calls
after the database commit. Acks are tied to the connection ("epoch") a message arrived on: after a
reconnect the broker redelivers unacknowledged messages, and a late ack of an old packet id must not
acknowledge a different message that now uses that id.

Why paho and not aiomqtt: aiomqtt 2.x acknowledges on receipt and has no public manual-ack API
(aiomqtt#345), so a crash between receipt and commit would lose messages.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from civicpulse.mqtt.client import BrokerAddress, make_client, stop_loop
from devices.contract import STATUS_FILTER, TELEMETRY_FILTER
from devices.credentials import INGEST_STOPPING_TOPIC
from ingest._mqtt_common import DROPPED_TOPIC as DROPPED_TOPIC  # tests and tools name it here
from ingest._mqtt_common import REFUSAL_HINTS, UPTIME_TOPIC, sys_counts, unreachable_reason
from ingest.prepare import InMessage

logger = logging.getLogger(__name__)


class MqttSource:
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
        self._queue: deque[InMessage] = deque()
        self._lock = threading.Lock()
        self._epoch = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._wakeup: Callable[[], None] | None = None
        self._signalled = False
        self._sys: dict[str, bytes] = {}
        self._sys_new = False
        self._uptimes = 0  # uptime samples received (see sys_counts)
        self.connects = 0
        self.failed_attempts = 0
        self._attempt_started: float | None = None
        self._attempt_answered = False
        self._warned_attempt: float | None = None
        self.taken_over = False
        """Another client connected with our client id and took the session over."""
        self._client_id = client_id
        self.stale_dropped = 0
        """Messages of earlier connections dropped unacknowledged (the broker redelivers them)."""
        self._filters = [TELEMETRY_FILTER, STATUS_FILTER]
        if share_group:
            self._filters = [f"$share/{share_group}/{f}" for f in self._filters]
        self._drain = drain
        self.last_received = 0.0
        self.ready_at = 0.0
        self.first_ready_at: float | None = None
        """When this process's first subscription was confirmed (Unix s)."""
        self._v5 = protocol == "5"
        if self._v5:
            self._client = make_client(address, client_id, manual_ack=True)
        else:
            # MQTT 3.1.1 (e.g. amqtt): no Receive Maximum, so the broker's own inflight limit is
            # the only bound on unacknowledged deliveries; the session is kept by clean_session.
            self._client = make_client(
                address,
                client_id,
                protocol=MQTTProtocolVersion.MQTTv311,
                manual_ack=True,
                clean_session=False,
            )
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # Receive Maximum bounds unacknowledged deliveries: the broker stops sending when ingest
        # falls behind (back-pressure) and memory stays bounded.
        self._properties.ReceiveMaximum = min(max(receive_maximum, 1), 65_535)
        self._properties.SessionExpiryInterval = session_expiry

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def url(self) -> str:
        return self._address.url

    def start(self, wakeup: Callable[[], None]) -> None:
        """Connect in the background (retrying for ever, saying why) and start receiving."""
        self._wakeup = wakeup
        self._new_attempt()
        logger.info(
            "connecting to %s as %r (MQTT %s, persistent session)",
            self.url,
            self._client_id,
            "5" if self._v5 else "3.1.1",
        )
        if self._v5:
            self._client.connect_async(
                self._address.host,
                self._address.port,
                keepalive=30,
                clean_start=False,
                properties=self._properties,
            )
        else:
            self._client.connect_async(self._address.host, self._address.port, keepalive=30)
        self._client.loop_start()

    async def wait_subscribed(self, seconds: float) -> bool:
        """Whether the broker has confirmed the subscriptions within ``seconds``."""
        return await asyncio.to_thread(self._subscribed.wait, seconds)

    def drain(self, limit: int) -> list[InMessage]:
        """Take up to ``limit`` received messages of the current connection, oldest first.

        Messages of an earlier connection are dropped here: the broker redelivers them, and
        acknowledging their packet ids now could acknowledge other messages.
        """
        self._signalled = False
        queue, epoch = self._queue, self._epoch
        count = min(limit, len(queue))
        taken = [queue.popleft() for _ in range(count)]
        if taken and taken[0].epoch != epoch:  # epochs only grow, in arrival order
            fresh = [m for m in taken if m.epoch == epoch]
            self.stale_dropped += len(taken) - len(fresh)
            return fresh
        return taken

    def pending(self) -> int:
        return len(self._queue)

    def oldest_received_at(self) -> float | None:
        queue = self._queue
        return queue[0].received_at if queue else None

    def ack(self, messages: Iterable[InMessage]) -> int:
        """Acknowledge committed messages received on the current connection; returns how many."""
        count = 0
        client = self._client
        with self._lock:
            epoch = self._epoch
            for message in messages:
                if message.epoch == epoch and message.qos > 0:
                    client.ack(message.mid, message.qos)
                    count += 1
        return count

    def broker_counts(self) -> tuple[int, float] | None:
        """The broker's dropped-message count and uptime (seconds), when a new sample of both
        has arrived since the last call (Mosquitto publishes them every ``sys_interval``)."""
        with self._lock:
            if not self._sys_new:
                return None
            self._sys_new = False
            sys, uptimes = dict(self._sys), self._uptimes
        return sys_counts(sys, uptimes)

    @property
    def ready(self) -> bool:
        return self._subscribed.is_set()

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect cleanly; the persistent session keeps what was not acknowledged, unless
        ``end_session`` (MQTT 5: session expiry 0 on DISCONNECT) discards the session."""
        self._barrier()
        if end_session and self._v5:
            properties = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 0
            self._client.disconnect(properties=properties)
        else:
            self._client.disconnect()
        stop_loop(self._client)

    async def close(self, *, end_session: bool = False) -> None:
        """:meth:`stop`, as the asyncio source is stopped (it blocks, as it always has)."""
        self.stop(end_session=end_session)

    def _barrier(self, seconds: float = 5.0) -> None:
        """Wait until the broker has read every acknowledgement sent so far.

        paho closes its socket right after DISCONNECT; with deliveries still unread on it, the
        kernel sends a TCP reset, and the broker discards what it had not read yet: measured on
        Mosquitto 2.0.11, a third of 4,000 acknowledgements sent just before a disconnect were
        lost, and those messages delivered again. The broker reads a client's packets in order,
        so the PUBACK of one QoS 1 publish sent after them says they all arrived."""
        if not self._connected.is_set():
            return
        info = self._client.publish(INGEST_STOPPING_TOPIC, b"", qos=1)
        deadline = time.monotonic() + seconds
        while not info.is_published() and time.monotonic() < deadline:
            if not self._connected.is_set():
                return  # gone: the broker redelivers whatever it did not read
            info.wait_for_publish(0.05)
        if not info.is_published():
            logger.warning(
                "the broker did not confirm the last acknowledgements within %.0f s; it may"
                " deliver some committed messages again (stored once all the same)",
                seconds,
            )

    # paho callbacks: they run on paho's network thread.

    def warn_if_unanswered(self, after_s: float = 10.0) -> None:
        """Log once per attempt when a connection is open but the broker has not answered
        CONNECT: brokers that speak only MQTT 3.1.1 may ignore an MQTT 5 CONNECT."""
        started, answered = self._attempt_started, self._attempt_answered
        if answered or started is None or self._warned_attempt == started:
            return
        # Only while a connection is open: between attempts (backoff) there is no socket.
        if time.monotonic() - started > after_s and self._client.socket() is not None:
            self._warned_attempt = started
            hint = (
                "; a broker that speaks only MQTT 3.1.1 (amqtt, older brokers) may not answer an"
                " MQTT 5 CONNECT: set CIVICPULSE_MQTT_PROTOCOL=3.1.1"
                if self._v5
                else ""
            )
            logger.error(
                "no answer from the broker at %s %.0f s after connecting%s",
                self.url,
                after_s,
                hint,
            )

    def _next_delay(self) -> float:
        """The wait paho takes before its next attempt (reconnect_delay_set(1, 30) doubles)."""
        self.failed_attempts += 1
        return float(min(30, 2 ** (self.failed_attempts - 1)))

    def _new_attempt(self) -> None:
        self._attempt_started = time.monotonic()
        self._attempt_answered = False

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._new_attempt()
        logger.warning(
            "cannot reach the broker at %s: %s; retrying in %.0f s",
            self.url,
            unreachable_reason(self._address.host, self._address.port),
            self._next_delay(),
        )

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        self._attempt_answered = True
        if reason.is_failure:
            hint = REFUSAL_HINTS.get(str(reason).lower(), "")
            logger.error(
                "the broker at %s refused the connection: %s%s; retrying in %.0f s",
                self.url,
                reason,
                f" ({hint})" if hint else "",
                self._next_delay(),
            )
            return
        self.connects += 1
        self.failed_attempts = 0
        logger.info(
            "connected to mqtt://%s:%d (session present: %s)",
            self._address.host,
            self._address.port,
            flags.session_present,
        )
        if self._drain:
            # Stop the broker routing anything new to this session; what it holds still comes.
            client.unsubscribe(self._filters)
            return
        if self._v5:
            retain = SubscribeOptions.RETAIN_SEND_IF_NEW_SUB  # not again on every reconnect
            client.subscribe(
                [
                    (self._filters[0], SubscribeOptions(qos=1)),
                    (self._filters[1], SubscribeOptions(qos=1, retainHandling=retain)),
                    (DROPPED_TOPIC, SubscribeOptions(qos=0)),
                    (UPTIME_TOPIC, SubscribeOptions(qos=0)),
                ]
            )
        else:
            client.subscribe(
                [
                    (self._filters[0], 1),
                    (self._filters[1], 1),
                    (DROPPED_TOPIC, 0),
                    (UPTIME_TOPIC, 0),
                ]
            )
        self._connected.set()

    def _on_unsubscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, _reasons: Any, _props: Any
    ) -> None:
        logger.info("unsubscribed from %s to retire this session", ", ".join(self._filters))
        self.ready_at = time.time()
        self._subscribed.set()

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            logger.error("the broker refused subscriptions: %s", failed)
        else:
            logger.info("subscribed to %s", ", ".join(self._filters))
            if self.first_ready_at is None:
                self.first_ready_at = time.time()
            self._subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        with self._lock:
            self._epoch += 1
        self._new_attempt()
        self._connected.clear()
        self._subscribed.clear()
        if str(reason).lower() == "session taken over":
            # Two processes with one client id would take the session from each other for
            # ever, each reconnect cutting the other off. Stop reconnecting; ingest exits.
            self.taken_over = True
            client.disconnect()
            if self._wakeup is not None:
                self._wakeup()
            return
        if reason.is_failure:
            logger.warning("disconnected from the broker: %s", reason)
        else:
            logger.info("disconnected from the broker")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if topic.startswith("$SYS/"):
            with self._lock:
                self._sys[topic] = bytes(message.payload)
                self._sys_new = True
                self._uptimes += topic == UPTIME_TOPIC
            return
        self.last_received = time.time()
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        # deque.append is atomic; the epoch is read once, so a message is never tagged with a
        # connection it did not arrive on (the epoch only changes on this same thread).
        self._queue.append(
            InMessage(topic, payload, message.mid, message.qos, self._epoch, time.time())
        )
        if not self._signalled and self._wakeup is not None:
            self._signalled = True
            self._wakeup()
