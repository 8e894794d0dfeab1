"""The ESP32 itself: Wi-Fi radio, RTC memory, watchdog, deep sleep and NTP.

With each firmware's ``hal.py`` (its sensors), the only code that imports ``machine``,
``network`` or ``ntptime``; tests install fakes of those modules and run everything else as is.
"""

import machine
import network
import ntptime


class Board:
    def __init__(self, cfg):
        self.cfg = cfg
        self._rtc = machine.RTC()
        self._wlan = None

    def wlan(self):
        """The station interface, powered up."""
        if self._wlan is None:
            self._wlan = network.WLAN(network.STA_IF)
        self._wlan.active(True)
        return self._wlan

    def rtc_memory(self, data=None):
        """Read (no argument) or replace the RTC user memory (2 KiB on stock ESP32 builds)."""
        if data is None:
            return self._rtc.memory()
        self._rtc.memory(data)
        return None

    def watchdog(self, timeout_ms):
        """Start the hardware watchdog; it cannot be stopped again, only fed (or deep sleep)."""
        return machine.WDT(timeout=timeout_ms)

    def ntp_sync(self, host):
        """Set the RTC to UTC from NTP (blocks up to about a second)."""
        ntptime.host = host
        ntptime.settime()

    def woke_from_deepsleep(self):
        return machine.reset_cause() == machine.DEEPSLEEP_RESET

    def deepsleep(self, ms):
        """Power down for ``ms``; the device then boots afresh (RTC memory kept). Never returns."""
        machine.deepsleep(ms)

    def reset(self):
        machine.reset()
