"""A provisioned device against a broker that enforces passwords and ACLs, as in production:
the secret from ``civicpulse devices provision`` goes into config.json as the MQTT password and
the firmware's telemetry, birth and will all pass the ACL; a wrong secret is refused and retried
with backoff."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from civicpulse.embedded import EmbeddedBroker, find_mosquitto
from devices.credentials import INGEST_ACCOUNT
from tests.firmware.fakes import World, pms5003_frame
from tests.firmware.harness import (
    boot,
    last_seq,
    register_device,
    rows,
    statuses,
    write_config,
)
from tests.ingest_harness import config, running, wait_for

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")


def _cli(db: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "civicpulse.cli", *args],
        env={"CIVICPULSE_DATABASE_URL": db, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_provisioned_credentials_and_acl(
    db: str, prefix: str, world: World, workdir: Path
) -> None:
    device = f"{prefix}-aq"
    await register_device(db, device, "air_quality")
    files = workdir / "broker-config"
    options = ("--broker-dir", str(files), "--file-mode", "644")
    lines = _cli(db, "devices", "provision", device, *options).splitlines()
    assert lines[0] == "device_id,secret"
    secret = dict(line.split(",", 1) for line in lines[1:])[device]
    ingest_secret = _cli(db, "broker", "account", INGEST_ACCOUNT, *options).strip().split(",")[1]

    world.adc_uv[34] = 270_000
    world.on_sample = lambda n: world.uart_rx.extend(pms5003_frame(3, n, 2 * n))
    broker = EmbeddedBroker(
        data_dir=workdir / "broker", password_file=files / "passwd", acl_file=files / "acl"
    )
    with broker:
        ingest_url = (
            f"mqtt://{INGEST_ACCOUNT}:{quote(ingest_secret, safe='')}@127.0.0.1:{broker.port}"
        )
        wrong = write_config(workdir / "wrong", device, broker.url, mqtt={"password": "guess"})
        right = write_config(workdir / "right", device, broker.url, mqtt={"password": secret})
        async with running(config(db, ingest_url)):
            rt = await asyncio.to_thread(
                boot("air_quality", world).run, str(wrong), samples=2, drain_ms=1000
            )
            assert rt.uplink.delivered == 0
            assert rt.uplink.backoff.failures >= 2
            assert any("connection refused: not authorised" in line for line in world.logs)

            rt = await asyncio.to_thread(boot("air_quality", world).run, str(right), samples=3)
            assert rt.uplink.delivered == 5  # the 2 kept from the refused run, then 3 more
            await wait_for(lambda: last_seq(db, "air_quality_readings", device) == 5, 20)
            await wait_for(lambda: statuses(db, device) == [True], 20)
    assert [r[1] for r in rows(db, "air_quality_readings", device, "pm25")] == [1, 2, 3, 4, 5]
