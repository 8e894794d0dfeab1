"""Parking-bay node hardware: QMC5883L on I2C, battery voltage through a divider on an ADC pin.

Battery powered: the ESP32 spends almost all its time in deep sleep (about 10 µA); see
docs/firmware.md for the power budget.
"""

from cpfw.board import Board as Esp32Board
from machine import ADC, I2C, Pin
from qmc5883l import QMC5883L


class Board(Esp32Board):
    def __init__(self, cfg):
        super().__init__(cfg)
        node = cfg["node"]
        bus = node["i2c"]
        i2c = I2C(bus["id"], scl=Pin(bus["scl"]), sda=Pin(bus["sda"]), freq=400000)
        self._magnetometer = QMC5883L(i2c)
        battery = node["battery"]
        self._battery = ADC(Pin(battery["pin"]))
        self._battery.atten(ADC.ATTN_11DB)
        self._divider = battery["divider"]
        self._empty_mv = battery["empty_mv"]
        self._full_mv = battery["full_mv"]

    def magnetic_field(self):
        """``(x, y, z)`` in µT."""
        return self._magnetometer.read_ut()

    def battery_pct(self):
        """Charge estimated linearly between ``empty_mv`` and ``full_mv``, as a whole percent."""
        mv = self._battery.read_uv() * self._divider / 1000
        pct = (mv - self._empty_mv) * 100 / (self._full_mv - self._empty_mv)
        return int(min(100, max(0, pct)) + 0.5)
