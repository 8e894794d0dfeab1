"""ingest's asyncio MQTT source over real brokers: Mosquitto (MQTT 5) and amqtt (MQTT 3.1.1).

What it must keep from the paho source: nothing acknowledged until asked, acknowledgements only on
the connection a message came on, a bounded queue even when the broker ignores Receive Maximum
(Mosquitto 2.0.11 on a resumed session), and every acknowledgement read by the broker before the
connection closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from civicpulse.embedded import EmbeddedBroker, find_mosquitto, free_port
from civicpulse.embedded.process import port_open
from civicpulse.mqtt.client import BrokerAddress
from devices.contract import telemetry_topic
from ingest.mqtt_asyncio import AsyncioSource
from ingest.prepare import InMessage
from simulators.publisher import publish_all
from tests.processes import Processes

PAYLOAD = b'{"seq": 0, "ts": "2026-01-01T00:00:00Z", "pm25": 1.0}'
READ_SIZE = 256 * 1024


def _source(url: str, client_id: str, *, limit: int = 1000, protocol: str = "5") -> AsyncioSource:
    return AsyncioSource(
        BrokerAddress.parse(url),
        client_id=client_id,
        share_group=None,
        receive_maximum=limit,
        session_expiry=60,
        protocol=protocol,
    )


async def _started(source: AsyncioSource) -> AsyncioSource:
    source.start(lambda: None)
    assert await source.wait_subscribed(30), "no SUBACK within 30 s"
    return source


async def _publish(url: str, prefix: str, count: int) -> None:
    messages = [(telemetry_topic(f"{prefix}-{i % 10}"), PAYLOAD) for i in range(count)]
    client_id = f"test-pub-{uuid.uuid4().hex[:8]}"
    assert await asyncio.to_thread(publish_all, url, messages, client_id=client_id) == count


async def _take(
    source: AsyncioSource, prefix: str, count: int, seconds: float = 30
) -> list[InMessage]:
    """Drain until ``count`` messages of this test arrived (others on a shared broker skipped)."""
    taken: list[InMessage] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while len(taken) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(taken)} of {count} messages within {seconds} s")
        batch = source.drain(min(500, count - len(taken)))
        taken += [m for m in batch if prefix in m.topic]
        if not batch:
            await asyncio.sleep(0.02)
    return taken


async def _nothing_more(source: AsyncioSource, prefix: str, seconds: float = 1.5) -> None:
    await asyncio.sleep(seconds)
    assert [m for m in source.drain(100_000) if prefix in m.topic] == []


async def test_acknowledged_only_on_request(mqtt_url: str, prefix: str) -> None:
    client_id = f"test-src-{uuid.uuid4().hex[:8]}"
    first = await _started(_source(mqtt_url, client_id))
    await _publish(mqtt_url, prefix, 200)
    received = await _take(first, prefix, 200)
    assert {m.qos for m in received} == {1}
    assert len({m.mid for m in received}) == 200
    acked, unacked = received[:120], received[120:]
    assert first.ack(acked) == 120
    await first.close()
    assert first.ack(unacked) == 0, "a closed connection acknowledges nothing"
    # The same session again: exactly the 80 unacknowledged come back (before the SUBACK, which
    # the broker sends after them), and no more.
    second = _source(mqtt_url, client_id)
    second.start(lambda: None)
    again = await _take(second, prefix, len(unacked))
    assert sorted(m.payload for m in again) == sorted(m.payload for m in unacked)
    assert {m.epoch for m in again} == {second.epoch}
    assert second.ack(again) == len(again)
    assert await second.wait_subscribed(30)
    await _nothing_more(second, prefix)
    await second.close(end_session=True)


async def test_mqtt311_with_amqtt(workdir: Path, prefix: str) -> None:
    """amqtt speaks MQTT 3.1.1 only; the session (its subscriptions) survives a reconnect.
    (amqtt 0.12 does not redeliver unacknowledged messages on reconnect, with paho either.)"""
    with EmbeddedBroker(data_dir=workdir / "amqtt", prefer="amqtt") as broker:
        url, client_id = broker.url, f"test-src-{uuid.uuid4().hex[:8]}"
        first = await _started(_source(url, client_id, protocol="3.1.1"))
        await _publish(url, prefix, 200)
        received = await _take(first, prefix, 200)
        assert first.ack(received) == 200
        await first.close()
        await _publish(url, prefix, 50)  # while away: kept for the session
        second = _source(url, client_id, protocol="3.1.1")
        second.start(lambda: None)
        assert len(await _take(second, prefix, 50)) == 50
        await _nothing_more(second, prefix)
        await second.close()


async def test_a_backlog_is_read_no_faster_than_it_is_taken(
    own_broker: EmbeddedBroker, prefix: str
) -> None:
    """Mosquitto 2.0.11 sends a resumed session's backlog past Receive Maximum: the source
    stops reading at its limit, and TCP holds the rest back in the broker."""
    url, client_id, limit, count = own_broker.url, f"test-bp-{uuid.uuid4().hex[:8]}", 100, 20_000
    first = await _started(_source(url, client_id, limit=limit))
    await first.close()
    await _publish(url, prefix, count)
    second = _source(url, client_id, limit=limit)
    second.start(lambda: None)
    await asyncio.sleep(2.0)
    held = second.pending()
    # One read past the limit at most (a read holds whole and partial packets of 256 KiB).
    assert limit <= held <= limit + READ_SIZE // len(PAYLOAD)
    assert held < count
    taken: list[InMessage] = []
    while len(taken) < count:
        batch = second.drain(500)
        assert second.pending() <= limit + READ_SIZE // len(PAYLOAD)
        second.ack(batch)
        taken += batch
        if not batch:
            await asyncio.sleep(0.01)
    assert len(taken) == count
    assert second.ready
    await second.close()
    third = await _started(_source(url, client_id, limit=limit))
    await _nothing_more(third, prefix)
    await third.close(end_session=True)


async def test_every_acknowledgement_sent_before_close_is_kept(
    own_broker: EmbeddedBroker, prefix: str
) -> None:
    """Acknowledge a large backlog and close at once, deliveries still unread on the socket:
    the broker must have read every acknowledgement (nothing redelivered)."""
    url, client_id, count = own_broker.url, f"test-close-{uuid.uuid4().hex[:8]}", 8_000
    first = await _started(_source(url, client_id, limit=20_000))
    await first.close()
    await _publish(url, prefix, count)
    for _ in range(2):
        source = _source(url, client_id, limit=20_000)
        source.start(lambda: None)
        taken = await _take(source, prefix, count // 2)
        source.ack(taken)
        await source.close()
    final = await _started(_source(url, client_id, limit=20_000))  # nothing comes before SUBACK
    await _nothing_more(final, prefix)
    await final.close(end_session=True)


class FakeBroker:
    """An asyncio server that answers CONNECT and SUBSCRIBE as told, then sends ``after``."""

    def __init__(self, *, connack: bytes = b"\x20\x03\x00\x00\x00", after: bytes = b"") -> None:
        self.connack = connack
        self.after = after
        self.connections = 0
        self.server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FakeBroker:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:  # the handlers see EOF and end
            writer.close()
        await asyncio.sleep(0.1)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"mqtt://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            assert (await reader.read(4096))[:1] == b"\x10"  # CONNECT
            writer.write(self.connack)
            subscribe = await reader.read(4096)
            if subscribe[:1] == b"\x82":  # SUBACK for the same packet id, four filters granted
                writer.write(b"\x90\x07" + subscribe[2:4] + b"\x00\x01\x01\x00\x00")
                writer.write(self.after)
            await writer.drain()
            while await reader.read(4096):
                pass
        except (ConnectionError, AssertionError):
            pass
        finally:
            writer.close()


async def test_a_malformed_packet_drops_the_connection_and_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    qos3 = b"\x36\x05\x00\x01t\x00\x01\x00"
    async with FakeBroker(after=qos3) as broker:
        source = _source(broker.url, "test-malformed")
        source.start(lambda: None)
        deadline = asyncio.get_running_loop().time() + 20
        while broker.connections < 2:
            assert asyncio.get_running_loop().time() < deadline, "no reconnect within 20 s"
            await asyncio.sleep(0.05)
        await source.close()
    assert "malformed MQTT packet (PUBLISH): QoS 3; reconnecting" in caplog.text
    assert source.connects >= 1


async def test_a_refused_connect_names_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    unsupported = b"\x20\x03\x00\x84\x00"
    async with FakeBroker(connack=unsupported) as broker:
        source = _source(broker.url, "test-refused")
        source.start(lambda: None)
        assert not await source.wait_subscribed(1.5)
        await source.close()
    assert "refused the connection: unsupported protocol version" in caplog.text
    assert "CIVICPULSE_MQTT_PROTOCOL=3.1.1" in caplog.text
    assert source.connects == 0


async def test_a_session_taken_over_is_not_taken_back() -> None:
    taken_over = b"\xe0\x02\x8e\x00"
    async with FakeBroker(after=taken_over) as broker:
        woken: list[bool] = []
        source = _source(broker.url, "test-taken")
        source.start(lambda: woken.append(True))
        deadline = asyncio.get_running_loop().time() + 10
        while not source.taken_over:
            assert asyncio.get_running_loop().time() < deadline, "not taken over within 10 s"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # past the first reconnect delay
        assert broker.connections == 1, "a taken-over session must not be taken back"
        assert woken
        await source.close()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a server certificate for ``localhost``, signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CivicPulse test CA")])
    ca = certificate("CivicPulse test CA", ca_key, ca_name, ca_key, True)
    server = certificate("localhost", server_key, ca_name, ca_key, False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.mark.mosquitto_only
async def test_a_tls_broker_is_read_through_the_systems_trust(
    tmp_path: Path,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    processes: Processes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``mqtts://``: the consumer verifies the broker's certificate against the trust store
    (here a test authority named by ``SSL_CERT_FILE``, as an operator's private CA would be) and
    reads and acknowledges over TLS."""
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("needs the mosquitto binary")
    ca, cert, key = _certificates(tmp_path)
    tls_port, plain_port = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"persistence false\nallow_anonymous true\n{'user root' if os.geteuid() == 0 else ''}\n"
        f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"listener {plain_port} 127.0.0.1\n",
        encoding="utf-8",
    )
    log = tmp_path / "mosquitto.log"
    broker = processes.start([str(binary), "-c", str(conf)], env=os.environ, log=log)
    deadline = asyncio.get_running_loop().time() + 10
    while not (port_open(tls_port) and port_open(plain_port)):
        assert broker.poll() is None, log.read_text(errors="replace")
        assert asyncio.get_running_loop().time() < deadline, "mosquitto did not listen"
        await asyncio.sleep(0.05)
    # Not trusted yet: one clear line says why, and it keeps trying.
    untrusted = _source(f"mqtts://localhost:{tls_port}", f"tls-{prefix}")
    untrusted.start(lambda: None)
    await asyncio.sleep(0.5)
    await untrusted.close()
    assert "its TLS certificate is not trusted" in caplog.text, caplog.text
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    source = await _started(_source(f"mqtts://localhost:{tls_port}", f"tls-{prefix}"))
    assert source.url == f"mqtts://localhost:{tls_port}"
    await _publish(f"mqtt://127.0.0.1:{plain_port}", prefix, 50)
    received = await _take(source, prefix, 50)
    assert source.ack(received) == 50
    await source.close(end_session=True)
