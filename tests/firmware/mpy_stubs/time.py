"""``time`` as on the ESP32 port, over the unix port's own.

Three differences matter to the firmware. The ESP32's epoch is 2000-01-01 (the unix port's is
1970-01-01). After a power-on its RTC reads the epoch until NTP sets it (``ntptime.py``). And its
ticks are 30-bit (small ints are 31-bit there): they wrap every 2**30 ms, about 12.4 days, where
the unix port's take 2**62. Here ticks start a third of a second before a wrap, as on a node 12.4
days up, so that the always-on runs cross one. Sleeps are the unix port's.
"""

import utime
from utime import *  # noqa: F403 (sleep_ms and the rest, unchanged)
from world import world

EPOCH_2000_S = 946684800  # 2000-01-01 in Unix seconds
_PERIOD = 1 << 30
_HALF = _PERIOD >> 1
_boot_ns = utime.time_ns()
_boot_ms = utime.ticks_ms()
_boot_us = utime.ticks_us()
_START = _PERIOD - 333


def time_ns():
    if world.clock_set:
        return utime.time_ns() - EPOCH_2000_S * 1000000000
    return utime.time_ns() - _boot_ns


def time():
    return time_ns() // 1000000000


def gmtime(secs=None):
    return utime.gmtime((time() if secs is None else int(secs)) + EPOCH_2000_S)


localtime = gmtime  # no time zones on the device


def mktime(t):
    return utime.mktime(t) - EPOCH_2000_S


def ticks_ms():
    return (utime.ticks_diff(utime.ticks_ms(), _boot_ms) + _START) & (_PERIOD - 1)


def ticks_us():
    return (utime.ticks_diff(utime.ticks_us(), _boot_us) + _START * 1000) & (_PERIOD - 1)


def ticks_add(ticks, delta):
    if not -_HALF <= delta < _HALF:
        raise OverflowError("ticks interval overflow")
    return (ticks + delta) & (_PERIOD - 1)


def ticks_diff(end, start):
    return ((end - start + _HALF) & (_PERIOD - 1)) - _HALF
