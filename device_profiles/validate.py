"""Hot-path validation of decoded readings against a profile.

``CompiledProfile.check(metric, value)`` costs one dict lookup and a couple of comparisons for
a good reading and returns ``(numeric_value, state_or_None)``; a bad reading returns a
``Rejection`` with a stable ``code`` (for metrics and counters) and a short ``reason`` (for
logs and the dead-letter table). Codes: ``unknown_metric``, ``wrong_type``, ``nan``,
``infinity``, ``out_of_range``, ``unknown_state``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from device_profiles.schema import Profile

Accepted = tuple[float, str | None]

UNKNOWN_METRIC = "unknown_metric"
WRONG_TYPE = "wrong_type"
NAN = "nan"
INFINITY = "infinity"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_STATE = "unknown_state"
REJECTION_CODES = (UNKNOWN_METRIC, WRONG_TYPE, NAN, INFINITY, OUT_OF_RANGE, UNKNOWN_STATE)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a reading was refused: a stable machine ``code`` and a human ``reason``."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Rule:
    metric: str
    lo: float  # number metrics only
    hi: float
    unit: str
    states: Mapping[str, Accepted] | None  # state -> precomputed (float(index), state)
    range_text: str


def _fmt(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else repr(x)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """Per-metric lookup table built once from a Profile."""

    name: str
    rules: Mapping[str, _Rule]

    @classmethod
    def from_profile(cls, profile: Profile) -> CompiledProfile:
        """Precompute bounds, state indexes and reason fragments for every metric."""
        rules: dict[str, _Rule] = {}
        for metric, spec in profile.metrics.items():
            if spec.states is not None:
                states = {s: (float(i), s) for i, s in enumerate(spec.states)}
                rules[metric] = _Rule(
                    metric, 0.0, 0.0, "", MappingProxyType(states), ", ".join(spec.states)
                )
            else:
                assert spec.min is not None and spec.max is not None and spec.unit is not None
                text = f"[{_fmt(spec.min)}, {_fmt(spec.max)}] for {metric} ({spec.unit})"
                rules[metric] = _Rule(metric, spec.min, spec.max, spec.unit, None, text)
        return cls(profile.name, MappingProxyType(rules))

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Metrics of the profile, in profile order."""
        return tuple(self.rules)

    def check(self, metric: str, value: object) -> Accepted | Rejection:
        """Accept ``(float_value, state_or_None)`` or return a Rejection for one reading."""
        rule = self.rules.get(metric)
        if rule is None:
            return Rejection(
                UNKNOWN_METRIC, f"unknown metric {_short(metric)} for profile {self.name!r}"
            )
        states = rule.states
        if states is None:
            kind = type(value)
            if kind is float or kind is int:
                if rule.lo <= value <= rule.hi:  # type: ignore[operator]
                    return float(value), None  # type: ignore[arg-type]
                return self._bad_number(rule, value)  # type: ignore[arg-type]
            if isinstance(value, int | float) and not isinstance(value, bool):
                return self.check(metric, float(value))  # int/float subclasses, e.g. numpy
            return Rejection(WRONG_TYPE, f"wrong type: expected number, got {type(value).__name__}")
        if type(value) is str:
            found = states.get(value)
            if found is not None:
                return found
            return Rejection(
                UNKNOWN_STATE,
                f"unknown state {_short(value)} for {metric} (expected one of {rule.range_text})",
            )
        return Rejection(
            WRONG_TYPE, f"wrong type: expected state string, got {type(value).__name__}"
        )

    @staticmethod
    def _bad_number(rule: _Rule, value: float) -> Rejection:
        if isinstance(value, float):
            if math.isnan(value):
                return Rejection(NAN, "NaN is not a valid value")
            if math.isinf(value):
                sign = "-" if value < 0 else ""
                return Rejection(INFINITY, f"{sign}Infinity is not a valid value")
        shown = _fmt(value) if isinstance(value, float) else _short(value)
        return Rejection(OUT_OF_RANGE, f"value {shown} outside valid range {rule.range_text}")
