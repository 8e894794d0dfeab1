"""Fixtures for the firmware tests: the fake ESP32 world, installed for one test, and the
MicroPython VM."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firmware.fakes import World, installed
from tests.firmware.harness import LIB, purge
from tests.firmware.vm import micropython_binary

# The pure library modules import as on the device (``import cpfw.ringbuf``).
if str(LIB) not in sys.path:
    sys.path.append(str(LIB))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Fake ``machine``/``network``/``ntptime`` over a fresh world; firmware modules are
    forgotten afterwards so the next test boots from scratch."""
    with installed(World(), monkeypatch) as w:
        yield w
    purge()


@pytest.fixture
def micropython() -> Path:
    """The MicroPython unix port's binary; the test skips, saying where it looked, without it."""
    return micropython_binary()
