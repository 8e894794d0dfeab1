"""Publish simulated messages through a real broker at QoS 1 and wait for every PUBACK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from civicpulse.mqtt.client import BrokerAddress, make_client, stop_loop


def publish_all(
    mqtt_url: str,
    messages: Iterable[tuple[str, bytes]],
    *,
    client_id: str = "civicpulse-simulator",
    qos: int = 1,
    max_inflight: int = 1000,
    timeout: float = 300.0,
    stop: threading.Event | None = None,
) -> int:
    """Publish ``messages``; returns the count once the broker acknowledged all of them.

    Setting ``stop`` (from another thread) ends it early; it then returns how many were
    acknowledged so far."""
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
        infos = []
        for topic, payload in messages:
            if stop is not None and stop.is_set():
                break
            infos.append(client.publish(topic, payload, qos=qos))
        deadline = time.monotonic() + timeout
        for count, info in enumerate(infos):
            while not info.is_published():
                if stop is not None and stop.is_set():
                    return count
                if time.monotonic() > deadline:
                    raise TimeoutError("the broker did not acknowledge every message in time")
                info.wait_for_publish(0.2)
        return len(infos)
    finally:
        client.disconnect()
        stop_loop(client)
