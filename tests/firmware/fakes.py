"""Fake ESP32 modules (``machine``, ``network``, ``ntptime``) over one scriptable :class:`World`.

They model what the firmware relies on, not the whole MicroPython API: a QMC5883L behind the
I2C bus (registers, data-ready, standby), a PMS5003 byte stream on the UART, ADC microvolts, pin
interrupts, RTC user memory that survives deep sleep, a watchdog that records how it is fed, and
a Wi-Fi station whose network the test can take away. Sockets are not faked: the firmware talks
to the real broker.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
QMC5883L_ADDRESS = 0x0D


class DeepSleep(BaseException):  # not an error: the device powers down
    """Raised by the fake ``machine.deepsleep``: the device is off until the harness boots it."""

    def __init__(self, ms: int) -> None:
        super().__init__(ms)
        self.ms = ms


class World:
    """Everything outside the firmware: sensors' physical inputs, the network, RTC memory."""

    def __init__(self) -> None:
        self.wifi_up = True
        self.wifi_credentials = ("test-net", "test-pass")
        self.rssi = -61
        self.ntp_syncs = 0
        self.rtc_memory = b""
        self.reset_cause = PWRON_RESET
        self.sleeps: list[int] = []
        self.uart_rx = bytearray()
        self.adc_uv: dict[int, int] = {}
        self.field_ut = (20.0, -5.0, 40.0)  # what the magnetometer senses, µT
        self.irq: dict[int, Callable[[Any], None]] = {}
        self.on_sample: Callable[[int], None] | None = None
        self.samples = 0
        self.wdt_timeout_ms: int | None = None
        self.wdt_longest_gap_ms = 0.0
        self._wdt_last: float | None = None
        self.logs: list[str] = []
        self.lock = threading.Lock()

    def log(self, *parts: object) -> None:
        self.logs.append(" ".join(str(p) for p in parts))

    def sample_taken(self) -> None:
        """Called by the fake peripheral that each firmware reads once per sample."""
        self.samples += 1
        if self.on_sample is not None:
            self.on_sample(self.samples)

    def pulse(self, pin: int) -> None:
        """A falling edge on ``pin`` (the meter's LED flashing)."""
        self.irq[pin](None)

    def wdt_fed(self) -> None:
        now = time.monotonic()
        if self._wdt_last is not None:
            self.wdt_longest_gap_ms = max(self.wdt_longest_gap_ms, (now - self._wdt_last) * 1000)
        self._wdt_last = now


def pms5003_frame(pm1: int, pm25: int, pm10: int, *, cf1_offset: int = 1) -> bytes:
    """A valid 32-byte PMS5003 frame (CF=1 values differ slightly, as on the real sensor)."""
    words = [pm1 + cf1_offset, pm25 + cf1_offset, pm10 + cf1_offset, pm1, pm25, pm10]
    words += [1200, 400, 90, 12, 3, 1, 0]  # particle counts and the reserved word
    body = struct.pack(">2sH13H", b"BM", 28, *words)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


def _machine(world: World) -> types.ModuleType:
    m = types.ModuleType("machine")

    class Pin:
        IN, OUT = 1, 3
        PULL_UP, PULL_DOWN = 2, 1
        IRQ_RISING, IRQ_FALLING = 1, 2

        def __init__(self, pin_id: int, mode: int | None = None, pull: int | None = None) -> None:
            self.id = pin_id

        def irq(self, trigger: int, handler: Callable[[Any], None]) -> None:
            assert trigger == Pin.IRQ_FALLING
            world.irq[self.id] = handler

    class UART:
        def __init__(self, uart_id: int, baudrate: int, **_kw: object) -> None:
            assert baudrate == 9600

        def read(self) -> bytes | None:
            world.sample_taken()
            data, world.uart_rx = bytes(world.uart_rx), bytearray()
            return data or None  # MicroPython returns None when nothing arrived

    class ADC:
        ATTN_0DB, ATTN_11DB = 0, 3

        def __init__(self, pin: Pin) -> None:
            self.pin = pin.id

        def atten(self, value: int) -> None:
            assert value == ADC.ATTN_11DB

        def read_uv(self) -> int:
            return world.adc_uv[self.pin]

    class I2C:
        """A bus with one QMC5883L on it."""

        def __init__(self, bus_id: int, *, scl: Pin, sda: Pin, freq: int) -> None:
            self.registers = bytearray(14)
            self.registers[0x0D] = 0xFF  # chip id

        def writeto_mem(self, address: int, register: int, data: bytes) -> None:
            self._check(address)
            if register == 0x0A and data[0] & 0x80:  # soft reset
                self.registers[0:0x0D] = bytes(0x0D)
                return
            self.registers[register] = data[0]

        def readfrom_mem(self, address: int, register: int, n: int) -> bytes:
            self._check(address)
            if self.registers[0x09] & 0x03 == 0x01:  # continuous mode: a sample is ready
                counts = [round(c * 120) for c in world.field_ut]
                self.registers[0:6] = struct.pack("<hhh", *counts)
                self.registers[0x06] = 0x01
            else:
                self.registers[0x06] = 0x00
            return bytes(self.registers[register : register + n])

        def _check(self, address: int) -> None:
            if address != QMC5883L_ADDRESS:
                raise OSError(19, "ENODEV")

    class RTC:
        def memory(self, data: bytes | None = None) -> bytes | None:
            if data is None:
                return world.rtc_memory
            if len(data) > 2048:
                raise ValueError("RTC user memory is 2048 bytes")
            world.rtc_memory = bytes(data)
            return None

    class WDT:
        def __init__(self, wdt_id: int = 0, timeout: int = 5000) -> None:
            world.wdt_timeout_ms = timeout
            world.wdt_fed()

        def feed(self) -> None:
            world.wdt_fed()

    def deepsleep(ms: int = 0) -> None:
        world.sleeps.append(ms)
        raise DeepSleep(ms)

    def disable_irq() -> int:
        world.sample_taken()  # the meter reads its counter once per sample
        world.lock.acquire()
        return 1

    def enable_irq(state: int) -> None:
        world.lock.release()

    vars(m).update(
        Pin=Pin,
        UART=UART,
        ADC=ADC,
        I2C=I2C,
        RTC=RTC,
        WDT=WDT,
        deepsleep=deepsleep,
        disable_irq=disable_irq,
        enable_irq=enable_irq,
        reset_cause=lambda: world.reset_cause,
        PWRON_RESET=PWRON_RESET,
        HARD_RESET=HARD_RESET,
        WDT_RESET=WDT_RESET,
        DEEPSLEEP_RESET=DEEPSLEEP_RESET,
        SOFT_RESET=SOFT_RESET,
    )
    return m


def _network(world: World) -> types.ModuleType:
    n = types.ModuleType("network")

    class WLAN:
        """A station that joins at once when the network is there and the credentials match."""

        def __init__(self, interface: int) -> None:
            self._active = False
            self._joined = False

        def active(self, flag: bool | None = None) -> bool:
            if flag is not None:
                self._active = flag
                if not flag:
                    self._joined = False
            return self._active

        def connect(self, ssid: str, password: str) -> None:
            if not self._active:
                raise OSError("Wifi Not Started")
            self._joined = world.wifi_up and (ssid, password) == world.wifi_credentials

        def disconnect(self) -> None:
            self._joined = False

        def isconnected(self) -> bool:
            if not world.wifi_up:
                self._joined = False  # the access point went away: the ESP32 drops the link
            return self._joined

        def status(self, what: str) -> int:
            assert what == "rssi"
            return world.rssi

    vars(n).update(WLAN=WLAN, STA_IF=0, AP_IF=1)
    return n


def _ntptime(world: World) -> types.ModuleType:
    ntp = types.ModuleType("ntptime")

    def settime() -> None:
        if not world.wifi_up:
            raise OSError(110, "ETIMEDOUT")
        world.ntp_syncs += 1  # the host clock is already right

    vars(ntp).update(host="pool.ntp.org", settime=settime)
    return ntp


@contextmanager
def installed(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Put the fakes where ``import machine`` (etc.) finds them, for the duration."""
    monkeypatch.setitem(sys.modules, "machine", _machine(world))
    monkeypatch.setitem(sys.modules, "network", _network(world))
    monkeypatch.setitem(sys.modules, "ntptime", _ntptime(world))
    yield world
