"""``machine`` for the unix port: the unix port's own module, plus the ESP32 peripherals the
firmwares use, over the scripted world (``world.py``).

Modelled: a PMS5003 byte stream on the UART, ADC microvolts, pin interrupts, a QMC5883L behind the
I2C bus (registers, data-ready, standby), RTC user memory (2 KiB), a watchdog that notes the
longest gap between feeds, and deep sleep, which ends the process as it ends the ESP32's run.
"""

import struct
import sys

from umachine import *  # noqa: F403 (mem8, idle, Signal: what the unix port has)
from world import world

_QMC5883L = 0x0D


class Pin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 2, 1
    IRQ_RISING, IRQ_FALLING = 1, 2

    def __init__(self, pin_id, mode=-1, pull=-1):
        self.id = pin_id

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING):
        world.irq[self.id] = handler


class UART:
    def __init__(self, uart_id, baudrate=115200, **_options):
        if baudrate != 9600:
            raise ValueError("the PMS5003 talks at 9600 baud")

    def read(self, nbytes=-1):
        """What arrived since the last read, or None if nothing did (as MicroPython's UART)."""
        world.sample()
        data = bytes(world.uart_rx)
        world.uart_rx = bytearray()
        return data or None


class ADC:
    ATTN_0DB, ATTN_2_5DB, ATTN_6DB, ATTN_11DB = 0, 1, 2, 3

    def __init__(self, pin, atten=ATTN_0DB):
        self._pin = pin.id
        self._atten = atten

    def atten(self, value):
        self._atten = value

    def read_uv(self):
        if self._atten != ADC.ATTN_11DB:
            raise ValueError("the wiring needs 11 dB attenuation")
        return world.adc_uv[self._pin]


class I2C:
    """A bus with a QMC5883L on it."""

    def __init__(self, bus_id, scl=None, sda=None, freq=400000):
        self.registers = bytearray(14)
        self.registers[0x0D] = 0xFF  # chip id

    def writeto_mem(self, address, register, data):
        self._check(address)
        if register == 0x0A and data[0] & 0x80:  # soft reset
            for i in range(0x0D):
                self.registers[i] = 0
            return
        self.registers[register] = data[0]

    def readfrom_mem(self, address, register, nbytes):
        self._check(address)
        if self.registers[0x09] & 0x03 == 0x01:  # continuous mode: a measurement is ready
            counts = [round(c * 120) for c in world.field_ut]
            self.registers[0:6] = struct.pack("<hhh", counts[0], counts[1], counts[2])
            self.registers[0x06] = 0x01
        else:
            self.registers[0x06] = 0x00
        return bytes(self.registers[register : register + nbytes])

    def _check(self, address):
        if address != _QMC5883L:
            raise OSError(19)  # ENODEV: nothing acknowledged the address


class RTC:
    def memory(self, data=None):
        if data is None:
            return world.rtc_memory
        if len(data) > 2048:
            raise ValueError("RTC user memory is 2048 bytes")
        world.rtc_memory = bytes(data)
        world.save_rtc()
        return None


class WDT:
    def __init__(self, id=0, timeout=5000):
        world.wdt_timeout_ms = timeout
        world.wdt_fed()

    def feed(self):
        world.wdt_fed()


def disable_irq():
    world.sample()  # the meter reads its counter once per sample: the LED flashes before
    return 1


def enable_irq(state):
    pass  # the flashes came in disable_irq(), before the count was read: nothing to release


def deepsleep(time_ms=0):
    """Power down: the process ends; the test starts the next wake with RTC memory kept."""
    world.report(sleep_ms=time_ms)
    sys.exit(0)
