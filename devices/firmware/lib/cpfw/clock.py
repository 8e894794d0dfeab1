"""Wall-clock time in Unix milliseconds and RFC 3339 timestamps.

The ESP32 port counts seconds from 2000-01-01 and CPython from 1970-01-01; everything here works
in Unix time so that stored timestamps mean the same on both. Until NTP has set the RTC the board
believes it is 2000, so readings wait for :func:`valid` (the contract rejects timestamps older than
400 days).
"""

import time

# Seconds between the Unix epoch and the interpreter's epoch (0 on CPython).
_EPOCH_S = 946684800 if time.gmtime(0)[0] == 2000 else 0
_EARLIEST_VALID_MS = 1735689600000  # 2025-01-01T00:00:00Z: no real reading predates the firmware


def unix_ms():
    """Milliseconds since 1970-01-01 UTC according to the board's RTC."""
    time_ns = getattr(time, "time_ns", None)
    if time_ns is not None:
        return time_ns() // 1_000_000 + _EPOCH_S * 1000
    return int(time.time() + _EPOCH_S) * 1000


def valid(ms):
    """Whether ``ms`` can be a real time, i.e. the RTC has been set since power-on."""
    return ms >= _EARLIEST_VALID_MS


def rfc3339(ms):
    """``2026-11-25T08:00:00.123Z`` for a Unix time in milliseconds."""
    t = time.gmtime(ms // 1000 - _EPOCH_S)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}.{ms % 1000:03d}Z"
