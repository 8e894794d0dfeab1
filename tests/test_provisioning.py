"""Provisioning against a real Mosquitto that runs with the generated password and ACL files:
devices cannot impersonate each other, wrong and revoked credentials are refused, rotation and
revocation take effect on a reload without restarting the broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from civicpulse.embedded import EmbeddedBroker, find_mosquitto
from civicpulse.mqtt.client import stop_loop
from devices.contract import telemetry_topic
from devices.credentials import INGEST_ACCOUNT, acl_file, hash_secret, verify_secret
from devices.registry import Device
from storage.connection import connect
from storage.registry import upsert

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")


def test_hashes_verify_and_differ() -> None:
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert first != second  # salted
    assert first.startswith("$7$1000$")
    assert verify_secret("s3cret", first)
    assert not verify_secret("s3cret!", first)


def test_shipped_acl_is_the_generated_one() -> None:
    shipped = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "acl"
    assert shipped.read_text() == acl_file(), "regenerate with `civicpulse broker files`"


class Peer:
    """A real MQTT 5 client, recording what happens to it."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.connack: list[str] = []
        self.disconnects: list[str] = []
        self.received: list[tuple[str, bytes]] = []
        self.granted: list[list[ReasonCode]] = []
        self.puback: dict[int, ReasonCode] = {}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"peer-{username}-{time.monotonic_ns()}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.append(str(rc))
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(str(rc))
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda _c, _u, _m, rcs, _p: self.granted.append(list(rcs))
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.puback.__setitem__(mid, rc)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        _until(lambda: bool(self.connack))

    @property
    def accepted(self) -> bool:
        return self.connack[0] == "Success"

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        _until(lambda: info.mid in self.puback)
        return self.puback[info.mid]

    def subscribe(self, topic: str) -> ReasonCode:
        before = len(self.granted)
        self.client.subscribe(topic, qos=1)
        _until(lambda: len(self.granted) > before)
        return self.granted[-1][0]

    def close(self) -> None:
        stop_loop(self.client)
        self.client.disconnect()


def _until(condition, seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicpulse.cli", *args],
        env={"CIVICPULSE_DATABASE_URL": db, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _secrets(output: str) -> dict[str, str]:
    lines = output.strip().splitlines()
    assert lines[0] == "device_id,secret"
    return {d: s for d, _, s in (line.partition(",") for line in lines[1:])}


def test_devices_are_confined_to_their_own_topics(db: str, workdir: Path, prefix: str) -> None:
    bay, meter = f"{prefix}-bay", f"{prefix}-meter"

    async def register() -> None:
        async with await connect(db) as conn:
            await upsert(conn, [Device(bay, "parking_bay"), Device(meter, "smart_meter")])

    asyncio.run(register())
    files = workdir / "broker-config"
    options = ("--broker-dir", str(files), "--file-mode", "644")
    provisioned = _cli(db, "devices", "provision", *options)
    assert provisioned.returncode == 0, provisioned.stderr
    secrets = _secrets(provisioned.stdout)
    assert sorted(secrets) == [bay, meter]
    ingest_line = _cli(db, "broker", "account", INGEST_ACCOUNT, *options)
    ingest_secret = ingest_line.stdout.strip().split(",", 1)[1]
    passwd = (files / "passwd").read_text()
    assert all(secret not in passwd for secret in [*secrets.values(), ingest_secret])

    broker = EmbeddedBroker(
        data_dir=workdir / "broker", password_file=files / "passwd", acl_file=files / "acl"
    )
    with broker:
        pid = broker.pid
        ingest = Peer(broker.port, INGEST_ACCOUNT, ingest_secret)
        device = Peer(broker.port, bay, secrets[bay])
        try:
            assert ingest.accepted
            assert device.accepted
            assert ingest.subscribe("civicpulse/v1/devices/+/telemetry").value == 1  # granted QoS 1
            assert device.publish(telemetry_topic(bay), b'{"occupied": true}').value == 0
            # Impersonation: the bay publishes as the meter; the broker refuses it.
            assert device.publish(
                telemetry_topic(meter), b'{"electricity_import_kwh": 1}'
            ).is_failure
            # Eavesdropping: Mosquitto grants the subscription but enforces `read` on delivery,
            # so the bay never receives the meter's readings; the meter's own publish works.
            device.subscribe(telemetry_topic(meter))
            device.subscribe(f"civicpulse/v1/devices/{bay}/commands")
            other = Peer(broker.port, meter, secrets[meter])
            assert (
                other.publish(telemetry_topic(meter), b'{"electricity_import_kwh": 2}').value == 0
            )
            other.close()
            # Ingest may read but not write.
            assert ingest.publish(telemetry_topic(bay), b'{"occupied": false}').is_failure
            _until(lambda: len(ingest.received) >= 2)
            time.sleep(0.3)
            assert ingest.received == [
                (telemetry_topic(bay), b'{"occupied": true}'),
                (telemetry_topic(meter), b'{"electricity_import_kwh": 2}'),
            ]
            assert device.received == []

            assert not Peer(broker.port, bay, "not-the-secret").accepted
            assert not Peer(broker.port, "anonymous-nobody", "").accepted

            # Revocation: the live session is cut on reload and the credential is refused.
            pidfile = workdir / "mosquitto.pid"
            pidfile.write_text(str(pid))
            revoked = _cli(db, "devices", "revoke", bay, *options, "--reload-pid", str(pidfile))
            assert revoked.returncode == 0, revoked.stderr
            _until(lambda: bool(device.disconnects))
            assert not Peer(broker.port, bay, secrets[bay]).accepted

            # Rotation: the old secret stops working, the new one works; no restart.
            rotated = _cli(
                db,
                "devices",
                "provision",
                meter,
                "--rotate",
                *options,
                "--reload-pid",
                str(pidfile),
            )
            new_secret = _secrets(rotated.stdout)[meter]
            _until(lambda: not Peer(broker.port, meter, secrets[meter]).accepted)
            assert Peer(broker.port, meter, new_secret).accepted
            assert broker.pid == pid
        finally:
            ingest.close()
            device.close()


def test_provisioning_refuses_what_it_must(db: str, prefix: str) -> None:
    async def register() -> None:
        async with await connect(db) as conn:
            await upsert(conn, [Device(f"{prefix}:a", "weather"), Device(f"{prefix}-b", "weather")])

    asyncio.run(register())
    colon = _cli(db, "devices", "provision", f"{prefix}:a", "--broker-dir", "/tmp/unused-cp")
    assert colon.returncode == 2
    assert "cannot be Mosquitto usernames" in colon.stderr
    assert (
        _cli(db, "devices", "provision", f"{prefix}-b", "--broker-dir", "/tmp/unused-cp").returncode
        == 0
    )
    again = _cli(db, "devices", "provision", f"{prefix}-b", "--broker-dir", "/tmp/unused-cp")
    assert "already provisioned; use --rotate" in again.stderr
    unknown = _cli(db, "devices", "provision", "nobody", "--broker-dir", "/tmp/unused-cp")
    assert "not registered" in unknown.stderr
