"""Running the firmware under CPython: fresh imports per boot, device configs, and what the
platform stored or the broker carried."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from civicpulse.mqtt.client import BrokerAddress, make_client, stop_loop
from tests.firmware.fakes import DeepSleep, World
from tests.ingest_harness import register

FIRMWARE = Path(__file__).resolve().parents[2] / "devices" / "firmware"
LIB = FIRMWARE / "lib"
NODES = ("air_quality", "parking_bay", "smart_meter")
# Top-level module names the firmwares use on the device (their files in /).
_NODE_MODULES = {p.stem for node in NODES for p in (FIRMWARE / node).glob("*.py")}


def firmware_files() -> list[Path]:
    return sorted(FIRMWARE.rglob("*.py"))


def purge() -> None:
    """Forget every firmware module, as a reboot forgets everything but RTC memory and flash."""
    for name in list(sys.modules):
        if name in _NODE_MODULES or name == "cpfw" or name.startswith("cpfw."):
            del sys.modules[name]


def library(*names: str) -> ModuleType:
    """The firmware library's ``cpfw`` package with the modules ``names`` imported, as on the
    device (``import cpfw.ringbuf``). The firmware has no annotations (MicroPython would carry
    them), so to mypy what it holds is ``Any``."""
    if str(LIB) not in sys.path:
        sys.path.append(str(LIB))
    for name in names:
        importlib.import_module(f"cpfw.{name}")
    return sys.modules["cpfw"]


def node_module(node: str, name: str) -> ModuleType:
    """A node's pure module (a sensor parser, a detector), loaded from its file."""
    if str(LIB) not in sys.path:
        sys.path.append(str(LIB))
    spec = importlib.util.spec_from_file_location(
        f"_fw_{node}_{name}", FIRMWARE / node / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def boot(node: str, world: World) -> ModuleType:
    """Import a firmware's ``app`` afresh, as the device does at power-on or after deep sleep."""
    purge()
    paths = [str(FIRMWARE / node), str(LIB)]
    sys.path[:0] = paths
    try:
        app = importlib.import_module("app")
    finally:
        for path in paths:
            sys.path.remove(path)
    sys.modules["cpfw.log"].sink = world.log  # type: ignore[attr-defined]
    return app


def wake_cycles(node: str, world: World, config: Path, wakes: int) -> None:
    """Run a deep-sleeping firmware for ``wakes`` wakes; before each, ``world.on_sample`` (if set)
    gets the wake number so the test can change the world."""
    for number in range(1, wakes + 1):
        if world.on_sample is not None:
            world.on_sample(number)
        app = boot(node, world)
        try:
            app.run(str(config))
        except DeepSleep as sleep:
            world.reset_cause = 4  # DEEPSLEEP_RESET
            time.sleep(sleep.ms / 1000)  # the RTC keeps time while the CPU is off
        else:
            raise AssertionError("the firmware returned instead of going to deep sleep")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def write_config(directory: Path, device_id: str, mqtt_url: str, **overrides: Any) -> Path:
    """A config.json for tests: fast sampling, short timeouts, the test broker (anonymous)."""
    address = BrokerAddress.parse(mqtt_url)
    config = {
        "device_id": device_id,
        "wifi": {"ssid": "test-net", "password": "test-pass", "timeout_s": 0.2},
        "mqtt": {"host": address.host, "port": address.port, "keepalive_s": 10, "response_s": 2},
        "sample_s": 0.05,
        "backoff_s": [0.05, 0.3],
        "watchdog_s": 10,
        "ntp": {"host": "ntp.test"},
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(_merge(config, overrides)))
    return path


async def register_device(db: str, device_id: str, device_type: str) -> None:
    device = SimpleNamespace(device_id=device_id, device_type=device_type)
    await register(db, SimpleNamespace(devices=[device]))  # type: ignore[arg-type]


def rows(db: str, table: str, device_id: str, columns: str) -> list[tuple[Any, ...]]:
    """``seq`` and ``columns`` of a device's stored readings, in seq order."""
    with psycopg.connect(db) as conn:
        return conn.execute(
            f"SELECT seq, {columns} FROM {table} WHERE device_id = %s ORDER BY seq",
            (device_id,),
        ).fetchall()


def last_seq(db: str, table: str, device_id: str) -> int | None:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            f"SELECT max(seq) FROM {table} WHERE device_id = %s", (device_id,)
        ).fetchone()
    return None if row is None else row[0]


def statuses(db: str, device_id: str) -> list[bool]:
    with psycopg.connect(db) as conn:
        return [
            bool(r[0])
            for r in conn.execute(
                "SELECT online FROM device_status WHERE device_id = %s ORDER BY ts", (device_id,)
            )
        ]


class Listener:
    """A paho subscriber recording the payloads on ``topic`` (in a background thread)."""

    def __init__(self, mqtt_url: str, topic: str) -> None:
        self.messages: list[tuple[bytes, bool]] = []
        self._topic = topic
        self._subscribed = threading.Event()
        address = BrokerAddress.parse(mqtt_url)
        self._client = make_client(
            address, f"fw-listener-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
        )
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda _c, _u, m: self.messages.append(
            (bytes(m.payload), m.retain)
        )
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"could not subscribe to {topic}")

    def payloads(self) -> list[Any]:
        return [json.loads(p) for p, _ in self.messages]

    def wait(self, predicate: Any, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while not predicate(self.messages):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._topic}: got {self.messages!r}")
            time.sleep(0.02)

    def close(self) -> None:
        self._client.disconnect()
        stop_loop(self._client)
