"""Tests for civicpulse.embedded: real PostgreSQL and MQTT servers in tmp dirs."""

from __future__ import annotations

import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from civicpulse.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    EmbeddedServiceError,
    find_mosquitto,
    free_port,
)
from civicpulse.mqtt.client import stop_loop

needs_mosquitto = pytest.mark.skipif(find_mosquitto() is None, reason="no mosquitto binary")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


class MqttClient:
    """A paho-mqtt 2.x client with blocking connect/subscribe and a message queue."""

    def __init__(
        self,
        url_port: int,
        *,
        client_id: str | None = None,
        protocol: MQTTProtocolVersion = mqtt.MQTTv311,
        persistent: bool = False,
    ) -> None:
        self.port = url_port
        self.protocol = protocol
        self.persistent = persistent
        self.client_id = client_id or f"test-{uuid.uuid4().hex[:8]}"
        kwargs: dict[str, Any] = {}
        if protocol != mqtt.MQTTv5:
            kwargs["clean_session"] = not persistent
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol, **kwargs
        )
        self.messages: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present: bool | None = None
        self.connect_rc: Any = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connect_rc = rc
        self.session_present = flags.session_present
        self.connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put((msg.topic, bytes(msg.payload), msg.qos))

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, rcs: Any, props: Any) -> None:
        self.subscribed.set()

    def connect(self) -> None:
        if self.protocol == mqtt.MQTTv5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if self.persistent:
                props.SessionExpiryInterval = 3600
            self.client.connect(
                "127.0.0.1", self.port, clean_start=not self.persistent, properties=props
            )
        else:
            self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"
        assert not self.connect_rc.is_failure, f"connect refused: {self.connect_rc}"

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos)
        assert self.subscribed.wait(10), "no SUBACK"

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)
        assert info.is_published()

    def get(self, timeout: float = 10.0) -> tuple[str, bytes, int]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        stop_loop(self.client)


@contextmanager
def mqtt_client(port: int, **kwargs: Any) -> Iterator[MqttClient]:
    client = MqttClient(port, **kwargs)
    client.connect()
    try:
        yield client
    finally:
        client.close()


def query_one(url: str, sql: str) -> Any:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


# ---------------------------------------------------------------------------
# Plain unit tests
# ---------------------------------------------------------------------------


def test_service_error_carries_service_and_detail() -> None:
    err = EmbeddedServiceError("postgres", "port in use")
    assert err.service == "postgres"
    assert err.detail == "port in use"
    assert "postgres" in str(err)
    assert "port in use" in str(err)


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_invalid_arguments_are_rejected(workdir: Path) -> None:
    with pytest.raises(ValueError, match="prefer"):
        EmbeddedBroker(data_dir=workdir, prefer="rabbitmq")  # type: ignore[arg-type]
    pg = EmbeddedPostgres(data_dir=workdir / "pg")
    with pytest.raises(ValueError, match="mode"):
        pg.stop(mode="smart")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_postgres_start_restart_and_create_database(workdir: Path) -> None:
    with EmbeddedPostgres(data_dir=workdir / "pg") as pg:
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert "PostgreSQL" in query_one(pg.url, "SELECT version()")
        with psycopg.connect(pg.url) as conn:
            conn.execute("CREATE TABLE readings (v int)")
            conn.execute("INSERT INTO readings VALUES (1)")

        first_pid = pg.pid
        pg.restart()
        assert pg.pid != first_pid
        assert query_one(pg.url, "SELECT count(*) FROM readings") == 1

        # Crash-like stop: committed data survives crash recovery.
        with psycopg.connect(pg.url) as conn:
            conn.execute("INSERT INTO readings VALUES (2)")
        pg.stop(mode="immediate")
        assert not pg.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.url, connect_timeout=2).close()
        pg.start()
        assert query_one(pg.url, "SELECT count(*) FROM readings") == 2

        url = pg.create_database("civicpulse_test")
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/civicpulse_test"
        assert pg.create_database("civicpulse_test") == url  # idempotent
        assert query_one(url, "SELECT current_database()") == "civicpulse_test"
    assert not pg.running


@pytest.mark.slow
def test_postgres_reuses_existing_data_dir(workdir: Path) -> None:
    with EmbeddedPostgres(data_dir=workdir / "pg") as pg, psycopg.connect(pg.url) as conn:
        conn.execute("CREATE TABLE kept (v int)")
    # A new object on the same directory skips initdb and keeps the data (new port).
    with EmbeddedPostgres(data_dir=workdir / "pg") as pg2:
        assert query_one(pg2.url, "SELECT count(*) FROM kept") == 0


@pytest.mark.slow
def test_postgres_port_in_use_is_reported(workdir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        pg = EmbeddedPostgres(data_dir=workdir / "pg", port=blocker.getsockname()[1])
        with pytest.raises(EmbeddedServiceError, match="already in use") as info:
            pg.start()
    assert info.value.service == "postgres"
    assert not pg.running


@pytest.mark.slow
def test_postgres_failures_report_the_server_log(workdir: Path) -> None:
    with EmbeddedPostgres(data_dir=workdir / "pg") as pg:
        # A second server on the same cluster is refused, the first keeps running.
        with pytest.raises(EmbeddedServiceError, match="already running"):
            EmbeddedPostgres(data_dir=workdir / "pg").start()
        assert pg.running
    (pg.pgdata / "postgresql.auto.conf").write_text("bogus_setting = 1\n")
    with pytest.raises(EmbeddedServiceError, match="exited with code") as info:
        pg.start()
    assert "bogus_setting" in info.value.detail  # the log tail
    assert not pg.running


# ---------------------------------------------------------------------------
# MQTT brokers
# ---------------------------------------------------------------------------

BROKER_CASES = [
    pytest.param("mosquitto", mqtt.MQTTv311, marks=needs_mosquitto, id="mosquitto-v311"),
    pytest.param("mosquitto", mqtt.MQTTv5, marks=needs_mosquitto, id="mosquitto-v5"),
    pytest.param("amqtt", mqtt.MQTTv311, id="amqtt-v311"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "protocol"), BROKER_CASES)
def test_broker_delivers_qos1_and_restarts(
    workdir: Path, kind: Any, protocol: MQTTProtocolVersion
) -> None:
    with EmbeddedBroker(data_dir=workdir / "broker", prefer=kind) as broker:
        assert broker.kind == kind
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        for round_ in range(2):
            with (
                mqtt_client(broker.port, protocol=protocol) as sub,
                mqtt_client(broker.port, protocol=protocol) as pub,
            ):
                sub.subscribe("city/+/telemetry", qos=1)
                pub.publish("city/s1/telemetry", b'{"t": 21.5}', qos=1)
                assert sub.get() == ("city/s1/telemetry", b'{"t": 21.5}', 1)
            if round_ == 0:
                port = broker.port
                broker.restart()
                assert broker.port == port
                assert broker.running
    assert not broker.running


@pytest.mark.slow
@needs_mosquitto
@pytest.mark.parametrize("crash", [False, True], ids=["clean-stop", "sigkill"])
@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["v311", "v5"])
def test_mosquitto_keeps_queued_qos1_across_restart(
    workdir: Path, crash: bool, protocol: MQTTProtocolVersion
) -> None:
    with EmbeddedBroker(data_dir=workdir / "broker", prefer="mosquitto") as broker:
        client_id = f"ingest-{uuid.uuid4().hex[:8]}"
        with mqtt_client(
            broker.port, client_id=client_id, protocol=protocol, persistent=True
        ) as sub:
            sub.subscribe("city/+/telemetry", qos=1)
        # The persistent subscriber is offline: the broker queues this message.
        with mqtt_client(broker.port, protocol=protocol) as pub:
            pub.publish("city/s7/telemetry", b"queued-while-offline", qos=1)

        if crash:
            time.sleep(2.5)  # autosave_interval 1: the queue reaches disk within ~2 s
        broker.stop(kill=crash)
        assert not broker.running
        broker.start()

        with mqtt_client(
            broker.port, client_id=client_id, protocol=protocol, persistent=True
        ) as sub:
            assert sub.session_present is True
            assert sub.get() == ("city/s7/telemetry", b"queued-while-offline", 1)


@pytest.mark.slow
def test_amqtt_keeps_persistent_sessions_in_memory_only(workdir: Path) -> None:
    with EmbeddedBroker(data_dir=workdir / "broker", prefer="amqtt") as broker:
        client_id = f"ingest-{uuid.uuid4().hex[:8]}"
        with mqtt_client(broker.port, client_id=client_id, persistent=True) as sub:
            sub.subscribe("city/+/telemetry", qos=1)
        with mqtt_client(broker.port) as pub:
            pub.publish("city/s7/telemetry", b"queued-while-offline", qos=1)
        with mqtt_client(broker.port, client_id=client_id, persistent=True) as sub:
            assert sub.get() == ("city/s7/telemetry", b"queued-while-offline", 1)
        # amqtt keeps sessions in memory only: a broker restart forgets them.
        with mqtt_client(broker.port, client_id=client_id, persistent=True) as sub:
            sub.subscribe("city/+/telemetry", qos=1)
        with mqtt_client(broker.port) as pub:
            pub.publish("city/s7/telemetry", b"lost-on-restart", qos=1)
        broker.restart()
        with mqtt_client(broker.port, client_id=client_id, persistent=True) as sub:
            assert sub.session_present is False
            with pytest.raises(queue.Empty):
                sub.get(timeout=1.0)
