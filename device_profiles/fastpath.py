"""A fast path for the most common message: native JSON with plain numeric values.

``native_envelope`` accepts only the plain shape of a native message and answers None for
anything unusual; the caller then uses :func:`device_profiles.decode`, which gives the
reason. ``NumberPlan`` lets a caller check a whole message's numbers in a few C-level
passes instead of one Python call per reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from device_profiles.decoders._common import MS_THRESHOLD
from device_profiles.validate import CompiledProfile

__all__ = ["NumberPlan", "native_envelope", "number_plan"]

# id, ts (epoch seconds), seq, values
Envelope = tuple[str | None, float | None, int | None, dict[str, object]]


def native_envelope(payload: bytes) -> Envelope | None:
    """(id, ts, seq, values) of a plain native JSON message, or None: use ``decode``."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    values = obj.get("values")
    if type(values) is not dict:
        return None
    ts = obj.get("ts")
    if ts is not None:
        kind = type(ts)
        if (kind is not float and kind is not int) or not 0 < ts < MS_THRESHOLD:
            return None
        ts = float(ts)
    dev = obj.get("id")
    if dev is not None and (type(dev) is not str or not dev):
        return None
    seq = obj.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        return None
    return dev, ts, seq, values


@dataclass(frozen=True, slots=True)
class NumberPlan:
    """Bounds of a message whose metrics, in this order, are all numbers of the profile."""

    metrics: tuple[str, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]


def number_plan(profile: CompiledProfile, metrics: tuple[str, ...]) -> NumberPlan | None:
    """A plan for this key order, or None if any metric is unknown or not a number."""
    lo: list[float] = []
    hi: list[float] = []
    for m in metrics:
        rule = profile.rules.get(m)
        if rule is None or rule.states is not None:
            return None
        lo.append(rule.lo)
        hi.append(rule.hi)
    return NumberPlan(metrics, tuple(lo), tuple(hi))
