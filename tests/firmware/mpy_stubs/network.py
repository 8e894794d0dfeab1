"""``network`` for the unix port: the ESP32's Wi-Fi station over the scripted world.

As on the ESP32, ``connect()`` returns at once and the station joins ``join_ms`` later; a second
``connect()`` while a join is under way is refused; the link drops when the network goes away.
"""

from utime import ticks_add, ticks_diff, ticks_ms
from world import world

STA_IF = 0
AP_IF = 1


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface != STA_IF:
            raise ValueError("only the station interface is emulated")
        self._active = False
        self._joined_at = None  # ticks when the join completes (or completed)

    def active(self, flag=None):
        if flag is not None:
            self._active = bool(flag)
            if not flag:
                self._joined_at = None
        return self._active

    def connect(self, ssid=None, key=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        if self._joined_at is not None and ticks_diff(self._joined_at, ticks_ms()) > 0:
            raise OSError("Wifi Internal Error")  # still joining
        self._joined_at = None
        if world.wifi_up and (ssid, key) == (world.ssid, world.password):
            self._joined_at = ticks_add(ticks_ms(), world.join_ms)

    def disconnect(self):
        self._joined_at = None

    def isconnected(self):
        if not world.wifi_up:
            self._joined_at = None
        return self._joined_at is not None and ticks_diff(ticks_ms(), self._joined_at) >= 0

    def status(self, param=None):
        if param != "rssi":
            raise ValueError("only status('rssi') is emulated")
        if not self.isconnected():
            raise OSError("Wifi Not Connected")
        return world.rssi
