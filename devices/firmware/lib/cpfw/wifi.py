"""Joining the Wi-Fi network and rejoining it after a drop, without ever blocking for long.

``wlan`` is a ``network.WLAN(network.STA_IF)`` from the board (or a fake in tests). Joining is
asynchronous on ESP32: ``connect()`` returns at once and ``isconnected()`` turns true later, so
:meth:`Wifi.step` starts a join, lets it run for ``timeout_ms`` and backs off if it fails.
"""

from cpfw.backoff import Backoff
from cpfw.compat import ticks_diff, ticks_ms
from cpfw.log import log


class Wifi:
    def __init__(self, wlan, ssid, password, timeout_ms, backoff_ms):
        self._wlan = wlan
        self._ssid = ssid
        self._password = password
        self._timeout_ms = timeout_ms
        self._joining = None  # ticks when the current join started
        self.backoff = Backoff(backoff_ms[0], backoff_ms[1])

    def up(self):
        return self._wlan.isconnected()

    def step(self):
        """Advance joining; returns True once connected."""
        if self._wlan.isconnected():
            if self._joining is not None:
                self._joining = None
                self.backoff.reset()
            return True
        if self._joining is not None:
            if ticks_diff(ticks_ms(), self._joining) < self._timeout_ms:
                return False
            self._joining = None
            log("Wi-Fi: could not join", self._ssid, "; retrying in", self.backoff.failed(), "ms")
        if not self.backoff.ready():
            return False
        try:
            # ESP32 refuses connect() while an earlier attempt is still in progress.
            self._wlan.disconnect()
            self._wlan.connect(self._ssid, self._password)
        except OSError as error:
            log("Wi-Fi: connect failed:", error)
            self.backoff.failed()
            return False
        self._joining = ticks_ms()
        return False

    def rssi(self):
        """Signal strength in dBm while connected, else None."""
        if not self._wlan.isconnected():
            return None
        try:
            return self._wlan.status("rssi")
        except (OSError, ValueError):
            return None

    def off(self):
        """Power the radio down (battery nodes, before deep sleep)."""
        try:
            self._wlan.disconnect()
        except OSError as error:
            log("Wi-Fi: disconnect failed:", error)
        self._wlan.active(False)
