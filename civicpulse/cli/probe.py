"""``civicpulse doctor --probe-queue``: how many QoS 1 messages the broker keeps for an offline
persistent session, measured rather than read from a config file no one can see.

A council's existing broker is the usual cause of silent loss: Mosquitto keeps 1,000 messages per
offline session unless told otherwise, and drops the rest. The probe subscribes a throwaway
persistent session to ``civicpulse/probe/<id>/#``, disconnects it, publishes more messages than
that default, reconnects, counts what comes back, and ends the session.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from civicpulse.errors import BrokerError
from civicpulse.mqtt.client import BrokerAddress, make_client, stop_loop
from devices.credentials import DOCTOR_ACCOUNT, PROBE_ROOT

QUIET_S = 3.0
"""No new message for this long after reconnecting: the broker has sent what it kept."""


@dataclass(frozen=True, slots=True)
class QueueProbe:
    published: int
    kept: int

    @property
    def lossy(self) -> bool:
        return self.kept < self.published


class _Client:
    """A paho client with blocking connect, subscribe and publish, for a short probe."""

    def __init__(
        self, address: BrokerAddress, client_id: str, protocol: str, *, keep: bool
    ) -> None:
        self.v5 = protocol == "5"
        self.keep = keep
        self.client = make_client(
            address,
            client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if self.v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if self.v5 else not keep,
        )
        self.address = address
        self.connected = threading.Event()
        self.refused: str | None = None
        self.granted: list[Any] = []
        self.subscribed = threading.Event()
        self.received = 0
        self.last_message = 0.0
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self.connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _m: int, reasons: Any, _p: Any) -> None:
        self.granted = list(reasons)
        self.subscribed.set()

    def _on_message(self, _c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
        self.received += 1
        self.last_message = time.monotonic()

    def connect(self) -> None:
        properties = None
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 300 if self.keep else 0
        try:
            if self.v5:
                self.client.connect(
                    self.address.host,
                    self.address.port,
                    keepalive=30,
                    clean_start=not self.keep,
                    properties=properties,
                )
            else:
                self.client.connect(self.address.host, self.address.port, keepalive=30)
        except OSError as error:
            raise BrokerError(f"{self.address.host}:{self.address.port}", str(error)) from None
        self.client.loop_start()
        if not self.connected.wait(10):
            raise BrokerError(f"{self.address.host}:{self.address.port}", "no CONNACK within 10 s")
        if self.refused is not None:
            raise BrokerError(
                f"{self.address.host}:{self.address.port}",
                f"refused the probe's connection: {self.refused}",
            )

    def close(self, *, end_session: bool = False) -> None:
        if end_session and self.v5:
            properties = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 0
            self.client.disconnect(properties=properties)
        else:
            self.client.disconnect()
        stop_loop(self.client)


def probe_queue(url: str, protocol: str, messages: int) -> QueueProbe:
    """Publish ``messages`` to a disconnected persistent session and count what it gets back."""
    address = BrokerAddress.parse(url)
    token = secrets.token_hex(4)
    topic = f"{PROBE_ROOT}/{token}"
    denied = (
        f"the broker does not let this account use {PROBE_ROOT}/#; run the probe with an account"
        f" that may ({DOCTOR_ACCOUNT}: `civicpulse broker account {DOCTOR_ACCOUNT}`) via"
        " --probe-url"
    )
    session = _Client(address, f"civicpulse-probe-{token}", protocol, keep=True)
    session.connect()
    session.client.subscribe(f"{topic}/#", qos=1)
    if not session.subscribed.wait(10) or any(_failed(r) for r in session.granted):
        session.close(end_session=True)
        raise BrokerError(f"{address.host}:{address.port}", denied)
    session.close()
    try:
        publisher = _Client(address, f"civicpulse-probe-pub-{token}", protocol, keep=False)
        publisher.connect()
        try:
            for i in range(messages):
                info = publisher.client.publish(f"{topic}/m", str(i).encode(), qos=1)
                info.wait_for_publish(10)
                if not info.is_published():
                    raise BrokerError(
                        f"{address.host}:{address.port}", f"message {i} not acknowledged"
                    )
        finally:
            publisher.close()
        returning = _Client(address, f"civicpulse-probe-{token}", protocol, keep=True)
        returning.last_message = time.monotonic()
        returning.connect()
        deadline = time.monotonic() + 60
        while time.monotonic() - returning.last_message < QUIET_S and time.monotonic() < deadline:
            if returning.received >= messages:
                break
            time.sleep(0.1)
        kept = returning.received
        returning.close(end_session=True)
    finally:
        if protocol != "5":  # end the 3.1.1 session: a clean connection discards it
            cleaner = _Client(address, f"civicpulse-probe-{token}", protocol, keep=False)
            with contextlib.suppress(BrokerError):
                cleaner.connect()
                cleaner.close()
    return QueueProbe(messages, kept)


def _failed(reason: Any) -> bool:
    if isinstance(reason, int):  # MQTT 3.1.1 granted QoS, 0x80 = failure
        return reason >= 0x80
    return bool(reason.is_failure)
