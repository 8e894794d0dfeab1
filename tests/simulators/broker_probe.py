"""Watching the broker from outside with paho: retained device status, telemetry counts."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from civicpulse.mqtt.client import BrokerAddress, make_client, stop_loop
from devices.contract import STATUS_FILTER, TELEMETRY_FILTER, parse_topic


def retained_statuses(
    mqtt_url: str, prefix: str, expected: int, seconds: float = 20.0
) -> dict[str, bytes]:
    """The retained status of every device whose id starts with ``prefix`` (waits for ``expected``)."""
    found: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        parsed = parse_topic(message.topic)
        if parsed is not None and parsed[0].startswith(prefix) and message.retain:
            found[parsed[0]] = bytes(message.payload)
            if len(found) >= expected:
                done.set()

    client = _client(mqtt_url, on_message)
    client.subscribe(STATUS_FILTER, qos=1)
    try:
        done.wait(seconds)
    finally:
        client.disconnect()
        stop_loop(client)
    return found


class TelemetryCounter:
    """Counts telemetry messages of devices with ``prefix`` as the broker forwards them (QoS 1)."""

    def __init__(self, mqtt_url: str, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0
        self._ready = threading.Event()
        self._client = _client(mqtt_url, self._on_message, on_subscribe=self._ready.set)
        self._client.subscribe(TELEMETRY_FILTER, qos=1)
        if not self._ready.wait(10):
            raise TimeoutError("no SUBACK")

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.startswith(f"civicpulse/v1/devices/{self.prefix}"):
            self.count += 1

    def wait_for(self, count: int, seconds: float = 60.0) -> int:
        deadline = time.monotonic() + seconds
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and nothing more arrives
        return self.count

    def close(self) -> None:
        self._client.disconnect()
        stop_loop(self._client)


def _client(mqtt_url: str, on_message: object, on_subscribe: object = None) -> mqtt.Client:
    address = BrokerAddress.parse(mqtt_url)
    client = make_client(address, f"probe-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv311)
    client.on_message = on_message  # type: ignore[assignment]
    if on_subscribe is not None:
        client.on_subscribe = lambda *_a: on_subscribe()  # type: ignore[operator]
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(address.host, address.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise TimeoutError("probe could not connect")
    return client


__all__ = ["CallbackAPIVersion", "TelemetryCounter", "retained_statuses"]
