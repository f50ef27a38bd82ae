"""Stateless, seeded randomness: the same keys give the same number on every run and process.

Signals and faults must be a pure function of (seed, device, time), so instead of a stateful
generator they hash their keys with splitmix64.
"""

from __future__ import annotations

import math

MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def mix64(x: int) -> int:
    """The splitmix64 finaliser: a well-spread 64-bit hash of a 64-bit integer."""
    x = (x + _GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def hash_keys(*keys: int) -> int:
    """64-bit hash of a sequence of integers (order matters)."""
    h = 0x243F6A8885A308D3
    for k in keys:
        h = mix64(h ^ (k & MASK))
    return h


def unit(*keys: int) -> float:
    """Uniform float in [0, 1) for these keys."""
    return (hash_keys(*keys) >> 11) * 2.0**-53


def gauss(*keys: int) -> float:
    """Standard normal number for these keys (Box-Muller)."""
    h = hash_keys(*keys)
    u1 = ((h >> 11) + 1) * 2.0**-53  # (0, 1]
    u2 = unit(h, 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def smooth(t: float, period: float, *keys: int) -> float:
    """Smooth noise in time (about N(0, 0.8)): normal values at knots ``period`` apart,
    cosine-interpolated, so readings drift instead of jumping."""
    x = t / period
    k = math.floor(x)
    f = x - k
    w = (1.0 - math.cos(math.pi * f)) / 2.0
    return gauss(*keys, k) * (1.0 - w) + gauss(*keys, k + 1) * w


def string_key(text: str) -> int:
    """A stable 64-bit key for a string (Python's ``hash`` is salted per process)."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return mix64(h)
