"""Fault injection: what real fleets get wrong, each kind switchable with its own rate.

Rates are probabilities per telemetry message, drawn from hashed (seed, device, seq) keys
so a run is reproducible. Kinds come in three families:

* replacing (at most one per message; their rates must sum to at most 1): the device's
  message itself is broken: ``malformed_json``, ``wrong_type``, ``nan`` (raw ``NaN`` /
  ``Infinity`` tokens), ``out_of_range``, ``future_timestamp``, ``ancient_timestamp``,
  ``oversize`` (> 16 KiB);
* extra (drawn independently, sent after the message): ``duplicate`` (the same bytes
  again), ``replay`` (an earlier message again), ``unknown_device`` (a device nobody
  registered), ``wrong_topic`` (this device's payload on another device's topic);
* device state: ``clock_skew`` is the share of *devices* whose clock is off by a fixed
  amount (each of their messages counts), ``offline`` makes the device publish ``offline``
  and go silent for a few intervals, then come back with a burst of backfilled messages.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._rand import unit
from .formats import Document
from .signals import Values

__all__ = [
    "EXTRA",
    "FAULT_KINDS",
    "REPLACING",
    "VALUE_FAULTS",
    "FaultConfig",
    "corrupt_json",
    "mutate_values",
    "pad_document",
]

REPLACING = (
    "malformed_json",
    "wrong_type",
    "nan",
    "out_of_range",
    "future_timestamp",
    "ancient_timestamp",
    "oversize",
)
EXTRA = ("duplicate", "replay", "unknown_device", "wrong_topic")
STATEFUL = ("clock_skew", "offline")
FAULT_KINDS = REPLACING + EXTRA + STATEFUL
VALUE_FAULTS = frozenset({"wrong_type", "nan", "out_of_range"})
OVERSIZE_BYTES = 17 * 1024  # the gateway refuses payloads above 16 KiB


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Rate of each fault kind (0 = off) and the shape of the stateful faults."""

    malformed_json: float = 0.0
    wrong_type: float = 0.0
    nan: float = 0.0
    out_of_range: float = 0.0
    future_timestamp: float = 0.0
    ancient_timestamp: float = 0.0
    oversize: float = 0.0
    duplicate: float = 0.0
    replay: float = 0.0
    unknown_device: float = 0.0
    wrong_topic: float = 0.0
    clock_skew: float = 0.0
    offline: float = 0.0
    max_skew_s: float = 3600.0  # a skewed clock is off by 60 s .. this, either way
    offline_reports: tuple[int, int] = (3, 12)  # reports missed while offline (min, max)

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            rate = getattr(self, kind)
            if not (isinstance(rate, int | float) and 0.0 <= rate <= 1.0):
                raise ValueError(f"fault rate {kind}={rate!r} must be between 0 and 1")
        if sum(self.rate(k) for k in REPLACING) > 1.0 + 1e-9:
            raise ValueError(f"the rates of {', '.join(REPLACING)} must sum to at most 1")
        lo, hi = self.offline_reports
        if not 1 <= lo <= hi:
            raise ValueError("offline_reports must be (min, max) with 1 <= min <= max")
        if not (math.isfinite(self.max_skew_s) and self.max_skew_s >= 60.0):
            raise ValueError("max_skew_s must be at least 60 seconds")

    @classmethod
    def uniform(cls, rate: float, *, kinds: tuple[str, ...] = FAULT_KINDS) -> FaultConfig:
        """Every kind of ``kinds`` at the same ``rate`` (what ``--fault-rate`` sets)."""
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        return cls().with_rates(dict.fromkeys(kinds, rate))

    def with_rates(self, rates: Mapping[str, float]) -> FaultConfig:
        """A copy with some kinds' rates changed (validated again)."""
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = dict(rates)
        return dataclasses.replace(self, **changes)

    def rate(self, kind: str) -> float:
        """The rate of one kind."""
        return float(getattr(self, kind))

    @property
    def enabled(self) -> bool:
        """Any fault switched on."""
        return any(self.rate(k) > 0 for k in FAULT_KINDS)

    def rates(self) -> dict[str, float]:
        """The non-zero rates by kind."""
        return {k: self.rate(k) for k in FAULT_KINDS if self.rate(k)}

    def pick_replacing(self, *keys: int) -> str | None:
        """The replacing fault of one message (or None): one draw over the cumulative rates,
        so each kind happens at exactly its rate."""
        u = unit(*keys, 0xFA17)
        for kind in REPLACING:
            u -= self.rate(kind)
            if u < 0:
                return kind
        return None

    def extras(self, *keys: int) -> list[str]:
        """The extra faults of one message, each drawn on its own."""
        return [
            kind
            for i, kind in enumerate(EXTRA)
            if self.rate(kind) and unit(*keys, 0xE0 + i) < self.rate(kind)
        ]

    def goes_offline(self, *keys: int) -> bool:
        """The device goes offline after this message."""
        return bool(self.offline) and unit(*keys, 0x0FF) < self.offline

    def skew_of(self, *keys: int) -> float:
        """The fixed clock offset of a device (0 for a device with a good clock)."""
        if not self.clock_skew or unit(*keys, 0x5CE) >= self.clock_skew:
            return 0.0
        size = 60.0 + (self.max_skew_s - 60.0) * unit(*keys, 0x5CF)
        return round(size if unit(*keys, 0x5D0) < 0.5 else -size, 1)


def mutate_values(kind: str, values: Values, metrics: dict[str, str | None], u: float) -> Values:
    """Break one reading of ``values`` for a value fault; ``metrics`` maps metric names to
    their kind ("number"/"state") and ``u`` in [0, 1) picks the metric and the variant."""
    out = dict(values)
    numbers = [m for m, k in metrics.items() if k == "number" and m in out]
    states = [m for m, k in metrics.items() if k == "state" and m in out]
    if kind == "wrong_type":
        pool = numbers + states
        metric = pool[int(u * len(pool))]
        value = out[metric]
        out[metric] = str(value) if isinstance(value, float) else 1
    elif kind == "nan" and numbers:
        metric = numbers[int(u * len(numbers))]
        out[metric] = (math.nan, math.inf, -math.inf)[int(u * 997) % 3]
    elif kind == "out_of_range" and numbers:
        metric = numbers[int(u * len(numbers))]
        out[metric] = 1e9 if int(u * 991) % 2 else -1e9
    elif kind in ("nan", "out_of_range") and states:
        out[states[0]] = "notAState"
    return out


def corrupt_json(payload: bytes, u: float) -> bytes:
    """Make a JSON text unparseable: cut it short, or leave a trailing comma."""
    if u < 0.5 or len(payload) < 4:
        return payload[: max(1, int(len(payload) * (0.2 + 0.6 * u)))]
    return payload[:-1] + b"," + payload[-1:]


def pad_document(doc: Document) -> None:
    """Blow a document up past the gateway's payload size limit (in place)."""
    padding = "x" * OVERSIZE_BYTES
    if isinstance(doc, list):
        doc.append({"n": "debugDump", "vs": padding})
    else:
        doc["debugDump"] = padding
