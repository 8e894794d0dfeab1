"""Fixtures for the firmware tests: the fake ESP32 world, installed for one test."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.firmware.fakes import World, installed
from tests.firmware.harness import LIB, purge

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
