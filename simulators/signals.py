"""Realistic readings for every simulated device, as a pure function of (seed, device, time).

``CitySignals(fleet).values(device, t)`` runs the device's profile model (see
``simulators.models``), then clips each number to its metric's valid range and rounds it to
the resolution the device's wire format carries (so a binary frame decodes to exactly the
value that was sent). Profiles without a model get a generic one: numbers wander slowly
around the middle of their range and states are mostly the first state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from device_profiles import MetricSpec

from ._rand import gauss, hash_keys, smooth, unit
from .environment import DAY, Environment
from .fleet import Fleet, SimDevice

__all__ = ["STEPS", "CitySignals", "DeviceContext", "Model", "Values", "quantize"]

Values = dict[str, float | str]
Model = Callable[["DeviceContext", float], Values]

# Resolution of a metric on the wire (binary codecs carry no more; the rest use 0.1).
STEPS: dict[str, float] = {
    "fillingLevel": 0.5,
    "relativeHumidity": 0.5,
    "batteryLevel": 1.0,
    "intensity": 1.0,
    "illuminance": 1.0,
}
REFERENCE_TIME = 1_704_067_200.0  # 2024-01-01: batteries and energy meters count from here
BUSY_DISTRICTS = frozenset({"Old Town", "Station", "Market", "Harbour"})


def quantize(value: float, step: float) -> float:
    """Round to the metric's resolution without binary noise (-0.0 becomes 0.0)."""
    if step == 1.0:
        return float(round(value)) + 0.0
    if step == 0.5:
        return round(value * 2.0) / 2.0 + 0.0
    return round(value, 1) + 0.0


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What a model knows about one device: the city, the device and its random key."""

    env: Environment
    device: SimDevice
    key: int

    def param(self, n: int, lo: float, hi: float) -> float:
        """A fixed per-device parameter drawn uniformly from [lo, hi)."""
        return lo + (hi - lo) * unit(self.key, n)

    def chance(self, p: float, *keys: int) -> bool:
        """True with probability ``p`` for these keys (same keys, same answer)."""
        return unit(self.key, *keys) < p

    def gauss(self, t: float, n: int) -> float:
        """Per-message measurement noise: a standard normal number keyed by time."""
        return gauss(self.key, n, int(t * 10.0))

    def smooth(self, t: float, period: float, n: int) -> float:
        """Slow per-device drift (smooth noise with the given period)."""
        return smooth(t, period, self.key, n)

    def busy(self) -> float:
        """1 for a busy central district, about 0.4 for a residential one."""
        if self.device.district in BUSY_DISTRICTS:
            return 1.0
        return 0.35 + 0.15 * unit(self.key, 99)

    def days(self, t: float) -> float:
        """Days since the reference date (for batteries and meters)."""
        return max(0.0, (t - REFERENCE_TIME) / DAY)

    def battery(self, t: float) -> float:
        """Battery percent: a per-device start level drained slowly and steadily."""
        start = self.param(90, 70.0, 100.0)
        per_day = self.param(91, 0.005, 0.03)
        return start - per_day * self.days(t)


def generic_model(ctx: DeviceContext, t: float, metrics: Mapping[str, MetricSpec]) -> Values:
    """Readings for a profile without a dedicated model."""
    out: Values = {}
    for i, (name, spec) in enumerate(metrics.items()):
        if spec.states is not None:
            rare = ctx.chance(0.05, i, int(t // 3600))
            pick = 1 + int(unit(ctx.key, i, int(t // 3600), 1) * (len(spec.states) - 1))
            out[name] = spec.states[pick] if rare and len(spec.states) > 1 else spec.states[0]
        else:
            assert spec.min is not None and spec.max is not None
            mid, half = (spec.min + spec.max) / 2.0, (spec.max - spec.min) / 2.0
            out[name] = (
                mid + half * 0.3 * ctx.smooth(t, 6 * 3600.0, i) + half * 0.02 * ctx.gauss(t, i)
            )
    return out


class CitySignals:
    """The readings of every device of a fleet; deterministic given the seed and the time."""

    __slots__ = ("_bounds", "_env", "_metrics", "_models", "_seed")

    def __init__(self, fleet: Fleet, seed: int | None = None) -> None:
        from .models import MODELS

        self._seed = fleet.seed if seed is None else seed
        self._env = Environment.for_city(self._seed, *fleet.center)
        self._models: dict[str, Model] = dict(MODELS)
        self._metrics = {p.name: p.metrics for p in fleet.profiles}
        # Per profile: (metric, lo, hi, step) of number metrics and the valid states.
        self._bounds: dict[str, tuple[tuple[str, float, float, float], ...]] = {
            name: tuple(
                (m, float(s.min), float(s.max), STEPS.get(m, 0.1))
                for m, s in metrics.items()
                if s.min is not None and s.max is not None
            )
            for name, metrics in self._metrics.items()
        }

    @property
    def env(self) -> Environment:
        """The city environment (calendar, sun, weather) the models share."""
        return self._env

    def context(self, device: SimDevice) -> DeviceContext:
        """The model context of one device."""
        return DeviceContext(self._env, device, hash_keys(self._seed, device.key))

    def values(self, device: SimDevice, t: float) -> Values:
        """The device's readings at epoch time ``t``, valid for its profile."""
        metrics = self._metrics[device.profile]
        ctx = self.context(device)
        model = self._models.get(device.profile)
        raw = model(ctx, t) if model is not None else generic_model(ctx, t, metrics)
        missing = [m for m in metrics if m not in raw]
        if missing:  # an operator override added metrics the model does not know
            extra = generic_model(ctx, t, metrics)
            raw.update({m: extra[m] for m in missing})
        out: Values = {}
        for name, spec in metrics.items():
            value = raw[name]
            if spec.states is not None and value not in spec.states:
                value = spec.states[0]
            out[name] = value
        for name, lo, hi, step in self._bounds[device.profile]:
            value = out[name]
            number = float(value) if isinstance(value, int | float) else lo
            out[name] = min(hi, max(lo, quantize(number, step)))
        return out

    def series(self, device: SimDevice, times: np.ndarray) -> dict[str, list[float | str]]:
        """Readings of one device at many times (for plots and tests)."""
        rows = [self.values(device, float(t)) for t in np.asarray(times, dtype=float)]
        return {m: [r[m] for r in rows] for m in self._metrics[device.profile]}
