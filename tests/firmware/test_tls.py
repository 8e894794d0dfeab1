"""TLS as on the production listener (docs/deploy.md §6): the device verifies the broker against
the CA in config.json and logs in with a client certificate whose common name is its id; the
broker maps that to the user name its ACL confines. A device holding the wrong CA refuses the
broker and delivers nothing."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicpulse.embedded import find_mosquitto, free_port
from tests.firmware.fakes import World, pms5003_frame
from tests.firmware.harness import boot, last_seq, register_device, statuses, write_config
from tests.firmware.vm import Change, Esp32, Script
from tests.ingest_harness import config, running, wait_for

pytestmark = pytest.mark.skipif(
    find_mosquitto() is None or shutil.which("openssl") is None,
    reason="needs the mosquitto and openssl binaries",
)


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str) -> None:
    _openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-days", "2", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}")  # fmt: skip


def _signed(directory: Path, ca: str, name: str, cn: str, extension: str | None = None) -> None:
    _openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={cn}")  # fmt: skip
    (directory / "ext.cnf").write_text(extension or "basicConstraints=CA:FALSE\n")
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt",
             "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2", "-sha256",
             "-extfile", "ext.cnf", "-out", f"{name}.crt")  # fmt: skip


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """Mosquitto with a plain listener (for ingest) and a client-certificate TLS listener."""
    certs = tmp_path / "certs"
    certs.mkdir()
    _ca(certs, "ca")
    _ca(certs, "other-ca")
    _signed(certs, "ca", "server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\n")
    plain, tls = free_port(), free_port()
    (certs / "acl").write_text(
        "pattern write civicpulse/v1/devices/%u/telemetry\n"
        "pattern write civicpulse/v1/devices/%u/status\n"
    )
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\n"
        "per_listener_settings true\n"
        f"listener {plain} 127.0.0.1\nallow_anonymous true\n"
        f"listener {tls} 127.0.0.1\n"
        f"cafile {certs}/ca.crt\ncertfile {certs}/server.crt\nkeyfile {certs}/server.key\n"
        "tls_version tlsv1.2\nrequire_certificate true\nuse_identity_as_username true\n"
        f"acl_file {certs}/acl\n"
    )
    log = tmp_path / "mosquitto.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(find_mosquitto()), "-c", str(conf)], stderr=out)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", tls), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.05)
        yield plain, tls, certs
    finally:
        process.terminate()
        process.wait(10)


async def test_tls_with_a_client_certificate(
    db: str, prefix: str, world: World, tmp_path: Path, tls_broker: tuple[int, int, Path]
) -> None:
    plain, tls, certs = tls_broker
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    _signed(certs, "ca", device, device)
    world.adc_uv[34] = 270_000
    world.on_sample = lambda n: world.uart_rx.extend(pms5003_frame(3, n, 2 * n))
    mqtt = {"tls": True, "ca_file": "ca.crt", "cert_file": "device.crt", "key_file": "device.key"}
    good = write_config(tmp_path / "good", device, f"mqtt://127.0.0.1:{tls}", mqtt=mqtt)
    bad = write_config(
        tmp_path / "bad", device, f"mqtt://127.0.0.1:{tls}", mqtt={**mqtt, "ca_file": "o.crt"}
    )
    for directory in (good.parent, bad.parent):
        shutil.copy(certs / "ca.crt", directory / "ca.crt")
        shutil.copy(certs / "other-ca.crt", directory / "o.crt")
        shutil.copy(certs / f"{device}.crt", directory / "device.crt")
        shutil.copy(certs / f"{device}.key", directory / "device.key")
    async with running(config(db, f"mqtt://127.0.0.1:{plain}")):
        refused = await asyncio.to_thread(
            boot("air_quality", world).run, str(bad), samples=2, drain_ms=800
        )
        assert refused.uplink.delivered == 0
        assert any("CERTIFICATE_VERIFY_FAILED" in line for line in world.logs)
        world.rtc_memory = b""  # start the good device afresh
        rt = await asyncio.to_thread(boot("air_quality", world).run, str(good), samples=3)
        assert rt.uplink.delivered == 3
        await wait_for(lambda: last_seq(db, "air_quality_readings", device) == 3, 20)
        await wait_for(lambda: statuses(db, device) == [True], 20)


async def test_tls_on_micropython(
    micropython: Path, db: str, prefix: str, tmp_path: Path, tls_broker: tuple[int, int, Path]
) -> None:
    """The same on the MicroPython VM, whose ``ssl`` (mbedTLS, as in ESP-IDF) is not CPython's:
    its sockets read and write but have no ``recv`` or ``sendall``. The stock unix build parses
    DER only, so the files are DER here; the ESP32 takes PEM or DER."""
    plain, tls, certs = tls_broker
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    _signed(certs, "ca", device, device)
    for name in ("ca", "other-ca", device):
        _openssl(certs, "x509", "-in", f"{name}.crt", "-outform", "DER", "-out", f"{name}.der")
    _openssl(certs, "pkey", "-in", f"{device}.key", "-outform", "DER", "-out", "key.der")
    mqtt = {"tls": True, "ca_file": "ca.der", "cert_file": f"{device}.der", "key_file": "key.der"}
    good = Esp32(micropython, "air_quality", tmp_path / "good")
    bad = Esp32(micropython, "air_quality", tmp_path / "bad")
    url = f"mqtt://127.0.0.1:{tls}"
    write_config(good.flash, device, url, mqtt=mqtt)
    write_config(bad.flash, device, url, mqtt={**mqtt, "ca_file": "other-ca.der"})
    for esp in (good, bad):
        for name in ("ca.der", "other-ca.der", f"{device}.der", "key.der"):
            shutil.copy(certs / name, esp.flash / name)
    script = Script(
        changes={n: Change(uart=pms5003_frame(3, n, 2 * n)) for n in range(1, 4)},
        adc_uv={34: 270_000},
    )
    async with running(config(db, f"mqtt://127.0.0.1:{plain}")):
        refused = await bad.run(script, samples=2, drain_ms=800)
        assert refused.node is not None
        assert refused.node.delivered == 0
        assert "The certificate is not correctly signed by the trusted CA" in refused.console
        run = await good.run(script, samples=3)
        assert run.node is not None
        assert run.node.delivered == 3
        await wait_for(lambda: last_seq(db, "air_quality_readings", device) == 3, 20)
        await wait_for(lambda: statuses(db, device) == [True], 20)
