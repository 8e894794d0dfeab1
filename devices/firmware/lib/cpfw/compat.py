"""The few time functions MicroPython and CPython spell differently.

MicroPython's ``ticks_*`` wrap around (about every 12 days on ESP32 with 30-bit small ints), so
durations must always go through ``ticks_diff``; CPython's monotonic clock does not wrap.
"""

import time

try:
    ticks_ms = time.ticks_ms
    ticks_us = time.ticks_us
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
    sleep_ms = time.sleep_ms
except AttributeError:  # CPython

    def ticks_ms():
        return time.monotonic_ns() // 1_000_000

    def ticks_us():
        return time.monotonic_ns() // 1_000

    def ticks_add(ticks, delta):
        return ticks + delta

    def ticks_diff(end, start):
        return end - start

    def sleep_ms(ms):
        if ms > 0:
            time.sleep(ms / 1000)
