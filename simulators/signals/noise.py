"""Counter-based randomness: every random number is a pure function of a key and a counter.

A signal that draws its noise as ``uniform(key, counter)`` gives the same value for the same
device and instant however the run is windowed, stepped or restarted, and can be evaluated for a
whole array of instants at once. Keys come from :func:`stable_key`, a hash that (unlike Python's
``hash``) is the same in every process.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / float(1 << 53)


def stable_key(*parts: object) -> int:
    """A 64-bit key from ``parts`` (their ``str``), identical across processes and platforms."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finaliser: a bijective scramble of 64-bit integers (wraps on overflow)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _counters(counter: ArrayLike) -> NDArray[np.uint64]:
    return np.atleast_1d(np.asarray(counter, dtype=np.int64)).astype(np.uint64)


def uniform(key: int, counter: ArrayLike) -> Floats:
    """Uniform numbers in [0, 1), one per counter (counters are integers)."""
    x = _mix(_counters(counter) * _GOLDEN + np.uint64(key))
    return (x >> _S11).astype(np.float64) * _TO_UNIT


def normal(key: int, counter: ArrayLike) -> Floats:
    """Standard normal numbers, one per counter (Box-Muller over two uniform streams)."""
    c = _counters(counter)
    u1 = 1.0 - uniform(key, c * np.uint64(2))  # (0, 1]: the log is finite
    u2 = uniform(key, c * np.uint64(2) + np.uint64(1))
    result: Floats = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return result


def smooth(key: int, t: ArrayLike, period: float) -> Floats:
    """Smooth noise of unit variance: Gaussian knots every ``period`` seconds, blended between.

    Values a few periods apart are independent; values much closer than ``period`` are close.
    Used for weather fronts, pollution episodes and traffic variation from day to day.
    """
    x = np.atleast_1d(np.asarray(t, dtype=np.float64)) / period
    left = np.floor(x)
    w = x - left
    w = w * w * (3.0 - 2.0 * w)  # smoothstep: no kinks at the knots
    a = normal(key, left.astype(np.int64))
    b = normal(key, left.astype(np.int64) + 1)
    result: Floats = (a * (1.0 - w) + b * w) / np.sqrt((1.0 - w) ** 2 + w**2)
    return result


def device_random(seed: int, device_id: str, stream: str) -> int:
    """The key of one random stream of one device (e.g. ``"no2"``, ``"parking"``)."""
    return stable_key(seed, device_id, stream)
