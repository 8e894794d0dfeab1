"""Publish simulated messages through a real broker at QoS 1 and wait for every PUBACK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from civicpulse.mqtt.client import BrokerAddress, make_client


def publish_all(
    mqtt_url: str,
    messages: Iterable[tuple[str, bytes]],
    *,
    client_id: str = "civicpulse-simulator",
    qos: int = 1,
    max_inflight: int = 1000,
    timeout: float = 300.0,
) -> int:
    """Publish ``messages``; returns the count once the broker acknowledged all of them."""
    client = make_client(BrokerAddress.parse(mqtt_url), client_id, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    address = BrokerAddress.parse(mqtt_url)
    client.connect(address.host, address.port, keepalive=60)
    client.loop_start()
    try:
        if not connected.wait(30):
            raise TimeoutError(f"no CONNACK from {address.host}:{address.port}")
        infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError("the broker did not acknowledge every message in time")
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()
