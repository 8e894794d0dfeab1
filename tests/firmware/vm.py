"""Running a firmware on the real MicroPython VM (the unix port) as a fake ESP32.

The unix port has no ESP32 hardware, so ``tests/firmware/mpy_stubs/`` holds MicroPython modules
that stand in for ``machine``, ``network``, ``ntptime`` and the ESP32's ``time`` over a world the
test scripts (``mpy_stubs/world.py`` reads the script this module writes). The firmware's files run
unchanged from ``devices/firmware/``, over real sockets to the real broker.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.firmware.harness import FIRMWARE, LIB

REPO = FIRMWARE.parents[1]
STUBS = Path(__file__).resolve().parent / "mpy_stubs"
# An ESP32 without PSRAM leaves MicroPython about 110 KiB of heap; the unix port's 64-bit words
# make objects up to twice as big, so this is the same order of size, not a model of that heap.
HEAP = "256K"
TIMEOUT_S = 60


def micropython_binary() -> Path:
    """``CIVICPULSE_MICROPYTHON``, else ``shared/micropython/micropython`` beside the repo or
    under ``/work``; skips the test, naming the paths, when there is no such executable."""
    configured = os.environ.get("CIVICPULSE_MICROPYTHON")
    shared = "shared/micropython/micropython"
    candidates = (
        [Path(configured)] if configured else [REPO.parent / shared, Path("/work") / shared]
    )
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    where = " or ".join(str(p) for p in candidates)
    pytest.skip(f"needs the MicroPython unix port at {where} (set CIVICPULSE_MICROPYTHON)")


@dataclass(frozen=True, slots=True)
class Change:
    """What changes in the world as a sample begins, and stays so until the next change;
    ``None`` and empty values change nothing."""

    wifi_up: bool | None = None
    uart: bytes = b""  # bytes the PMS5003 sends
    adc_uv: Mapping[int, int] = field(default_factory=dict)
    field_ut: tuple[float, float, float] | None = None
    pulses: int = 0  # flashes of the meter's LED, ``Script.pulse_gap_ms`` apart

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uart": self.uart.hex(), "adc_uv": dict(self.adc_uv)}
        if self.wifi_up is not None:
            out["wifi_up"] = self.wifi_up
        if self.field_ut is not None:
            out["field_ut"] = self.field_ut
        if self.pulses:
            out["pulses"] = self.pulses
        return out


@dataclass(frozen=True, slots=True)
class Script:
    """The world one run of the firmware sees: the state at boot, then ``changes[n]`` as sample
    n begins. The Wi-Fi network is ``test-net``/``test-pass`` (as ``write_config``)."""

    changes: Mapping[int, Change] = field(default_factory=dict)
    wifi_up: bool = True
    join_ms: int = 20  # joining is asynchronous on the ESP32
    rssi: int = -61
    adc_uv: Mapping[int, int] = field(default_factory=dict)
    field_ut: tuple[float, float, float] = (20.0, -5.0, 40.0)
    pulse_pin: int = 27
    pulse_gap_ms: int = 100

    def as_json(self, rtc_file: Path) -> dict[str, Any]:
        return {
            "changes": {str(n): change.as_json() for n, change in self.changes.items()},
            "wifi_up": self.wifi_up,
            "join_ms": self.join_ms,
            "rssi": self.rssi,
            "adc_uv": dict(self.adc_uv),
            "field_ut": self.field_ut,
            "pulse_pin": self.pulse_pin,
            "pulse_gap_ms": self.pulse_gap_ms,
            "rtc_file": str(rtc_file),
        }


@dataclass(frozen=True, slots=True)
class WorldReport:
    """What the stubs saw (``world.py``)."""

    implementation: str
    samples: int
    ntp_syncs: int
    wdt_timeout_ms: int | None
    wdt_longest_gap_ms: int
    sleep_ms: int | None


@dataclass(frozen=True, slots=True)
class NodeReport:
    """What an always-on node's runtime held at the end (``mpy_stubs/mains_run.py``)."""

    samples: int
    delivered: int
    batches: int
    dropped: int
    queued: int


@dataclass(frozen=True, slots=True)
class Run:
    console: str  # everything the device printed, for failure messages
    logs: list[str]  # the firmware's log lines, without the ``[cpfw]`` prefix
    world: WorldReport
    node: NodeReport | None


def parse_console(console: str) -> Run:
    logs: list[str] = []
    world: WorldReport | None = None
    node: NodeReport | None = None
    for line in console.splitlines():
        if line.startswith("[cpfw] "):
            logs.append(line.removeprefix("[cpfw] "))
        elif line.startswith("@world "):
            world = WorldReport(**json.loads(line.removeprefix("@world ")))
        elif line.startswith("@node "):
            node = NodeReport(**json.loads(line.removeprefix("@node ")))
    if world is None:
        raise AssertionError(f"the device ended without its report:\n{console}")
    return Run(console, logs, world, node)


class Esp32:
    """One device running ``node``'s firmware on the MicroPython VM, run by run.

    ``flash`` is its filesystem (``config.json``, ``state.json``) and the VM's working directory.
    The RTC domain (RTC memory, whether the clock is set) is kept in a file beside it, so that it
    survives from one run to the next as it survives deep sleep and resets.
    """

    def __init__(self, binary: Path, node: str, directory: Path, heap: str = HEAP) -> None:
        self.binary = binary
        self.node = node
        self.heap = heap
        self.flash = directory / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        self._rtc = directory / "rtc.bin"
        self._script = directory / "world.json"

    async def run(self, script: Script, samples: int, drain_ms: int = 10_000) -> Run:
        """An always-powered node until ``samples`` readings are delivered (or ``drain_ms``
        more passed), then a clean disconnect."""
        run = await self._boot(script, "mains_run", str(samples), str(drain_ms))
        assert run.node is not None, run.console
        return run

    async def wake(self, script: Script) -> Run:
        """One wake of a deep-sleeping node, from its own ``main.py`` to ``machine.deepsleep``."""
        run = await self._boot(script, "main")
        assert run.world.sleep_ms is not None, f"returned instead of deep sleep:\n{run.console}"
        return run

    async def _boot(self, script: Script, module: str, *args: str) -> Run:
        self._script.write_text(json.dumps(script.as_json(self._rtc)))
        # MICROPYPATH replaces sys.path; .frozen (asyncio, ssl) must stay. The stubs come before
        # the firmware so that ``time`` is the ESP32's.
        path = [".frozen", str(STUBS), str(LIB), str(FIRMWARE / self.node)]
        process = await asyncio.create_subprocess_exec(
            str(self.binary),
            "-X",
            f"heapsize={self.heap}",
            "-m",
            module,
            *args,
            cwd=self.flash,
            env={"MICROPYPATH": ":".join(path), "CPFW_WORLD": str(self._script)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        console = output.decode(errors="replace")
        assert process.returncode == 0, f"MicroPython exited with {process.returncode}:\n{console}"
        return parse_console(console)
