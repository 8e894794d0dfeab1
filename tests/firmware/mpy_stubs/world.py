"""The world around a fake ESP32 on the MicroPython unix port, as the test scripted it.

The test writes a JSON script to the file named by ``CPFW_WORLD``: the starting state (Wi-Fi,
signal strength, ADC microvolts, the magnetic field) and ``changes``, what changes as sample n
begins (keyed by n = 1, 2, ...; a change lasts until the next). The peripheral each firmware
reads once per sample (the PMS5003's UART, the meter's counter snapshot) calls
:meth:`World.sample`. A deep-sleeping node runs one wake per process, each with its own
script.

The RTC domain (whether the clock has been set, then RTC user memory) is kept in the file
``rtc_file`` so that it survives deep sleep and resets, which here are the end of one process and
the start of the next (deleting it would cut the power). It is written as raw bytes:
whatever the stubs allocate comes out of the firmware's heap. What the test asserts on is
printed as one line, ``@world {json}``; everything else on stdout is the device's console.

Imports ``utime``, not ``time``: the ``time`` stub imports this module.
"""

import json
import os
import sys
from binascii import unhexlify

import utime


class World:
    def __init__(self, script):
        self.wifi_up = script.get("wifi_up", True)
        self.ssid = script.get("ssid", "test-net")
        self.password = script.get("password", "test-pass")
        self.join_ms = script.get("join_ms", 0)
        self.rssi = script.get("rssi", -61)
        self.adc_uv = {}
        self._set_adc(script.get("adc_uv", {}))
        self.field_ut = tuple(script.get("field_ut", (20.0, -5.0, 40.0)))
        self.pulse_pin = script.get("pulse_pin", 27)
        self.pulse_gap_ms = script.get("pulse_gap_ms", 100)
        self.uart_rx = bytearray()
        self.irq = {}  # pin id -> handler
        self.samples = 0
        self.ntp_syncs = 0
        self.wdt_timeout_ms = None
        self.wdt_longest_gap_ms = 0
        self._wdt_last = None
        self._last_pulse = None
        self._changes = script.get("changes", {})
        self._rtc_file = script["rtc_file"]
        self.rtc_memory = b""
        self.clock_set = False  # the RTC counts from 2000-01-01 after a power-on
        try:
            with open(self._rtc_file, "rb") as f:
                self.clock_set = f.read(1) == b"\x01"
                self.rtc_memory = f.read()
        except OSError:
            pass  # power-on: the RTC domain starts empty

    def _set_adc(self, values):
        for pin in values:
            self.adc_uv[int(pin)] = values[pin]

    def sample(self):
        """A new sample begins: apply the script's changes for it."""
        self.samples += 1
        change = self._changes.get(str(self.samples))
        if change is None:
            return
        if "wifi_up" in change:
            self.wifi_up = change["wifi_up"]
        if "field_ut" in change:
            self.field_ut = tuple(change["field_ut"])
        self._set_adc(change.get("adc_uv", {}))
        self.uart_rx.extend(unhexlify(change.get("uart", "")))
        for _ in range(change.get("pulses", 0)):
            self._pulse()

    def _pulse(self):
        """One flash of the meter's LED, at least ``pulse_gap_ms`` after the one before."""
        if self._last_pulse is not None:
            wait = utime.ticks_diff(self._last_pulse, utime.ticks_ms()) + self.pulse_gap_ms
            if wait > 0:
                utime.sleep_ms(wait)
        self.irq[self.pulse_pin](self.pulse_pin)
        self._last_pulse = utime.ticks_ms()  # after the handler noted its time, never before

    def wdt_fed(self):
        now = utime.ticks_ms()
        if self._wdt_last is not None:
            gap = utime.ticks_diff(now, self._wdt_last)
            self.wdt_longest_gap_ms = max(self.wdt_longest_gap_ms, gap)
        self._wdt_last = now

    def save_rtc(self):
        with open(self._rtc_file, "wb") as f:
            f.write(b"\x01" if self.clock_set else b"\x00")
            f.write(self.rtc_memory)

    def report(self, sleep_ms=None):
        print(
            "@world",
            json.dumps(
                {
                    "implementation": sys.implementation.name,
                    "samples": self.samples,
                    "ntp_syncs": self.ntp_syncs,
                    "wdt_timeout_ms": self.wdt_timeout_ms,
                    "wdt_longest_gap_ms": self.wdt_longest_gap_ms,
                    "sleep_ms": sleep_ms,
                }
            ),
        )


def _load():
    path = os.getenv("CPFW_WORLD")
    if not path:
        raise RuntimeError("CPFW_WORLD must name the test's world script")
    with open(path) as f:
        return World(json.load(f))


world = _load()
