"""The make-up of a simulated city: how many devices of each profile, and their formats."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "LORAWAN_FORMATS",
    "LORAWAN_PROFILES",
    "PROFILE_WEIGHTS",
    "format_mix",
    "id_prefix",
    "pick",
    "profile_mix",
]

LORAWAN_FORMATS = frozenset({"ttn", "chirpstack"})
# Relative share of each profile in a city (street furniture dominates; stations are few).
PROFILE_WEIGHTS: dict[str, float] = {
    "parking_spot": 30,
    "streetlight": 25,
    "waste_container": 20,
    "traffic_counter": 8,
    "noise": 6,
    "air_quality": 5,
    "water_level": 3,
    "weather_station": 3,
}
OTHER_WEIGHT = 3.0  # operator profiles the table does not know
ID_PREFIX: dict[str, str] = {
    "air_quality": "aq",
    "noise": "noise",
    "parking_spot": "park",
    "streetlight": "light",
    "traffic_counter": "traffic",
    "waste_container": "bin",
    "water_level": "water",
    "weather_station": "wx",
}
# Formats per profile kind: LoRaWAN-typical sensors go through a network server.
LORAWAN_PROFILES = frozenset({"parking_spot", "waste_container", "water_level", "weather_station"})
_LORAWAN_MIX = (("ttn", 0.5), ("chirpstack", 0.45), ("json", 0.05))
_SENML_MIX = (("senml", 0.8), ("json", 0.2))
_NATIVE_MIX = (("json", 0.85), ("senml", 0.15))


def profile_mix(names: Sequence[str], n_devices: int) -> dict[str, int]:
    """How many devices of each profile: one of each first (when there is room), the rest
    by largest remainder over the city weights."""
    weights = {n: PROFILE_WEIGHTS.get(n, OTHER_WEIGHT) for n in names}
    ordered = sorted(names, key=lambda n: (-weights[n], n))
    if n_devices < len(names):
        return {n: (1 if i < n_devices else 0) for i, n in enumerate(ordered)}
    counts = dict.fromkeys(names, 1)
    rest = n_devices - len(names)
    total = sum(weights.values())
    shares = {n: rest * weights[n] / total for n in names}
    for n in names:
        counts[n] += int(shares[n])
    left = n_devices - sum(counts.values())
    for n in sorted(names, key=lambda n: (-(shares[n] % 1), n))[:left]:
        counts[n] += 1
    return counts


def pick(rng: np.random.Generator, mix: tuple[tuple[str, float], ...]) -> str:
    u = float(rng.random())
    for fmt, p in mix:
        u -= p
        if u < 0:
            return fmt
    return mix[-1][0]


def format_mix(profile: str, default_format: str) -> tuple[tuple[str, float], ...]:
    if profile in LORAWAN_PROFILES or default_format in LORAWAN_FORMATS:
        return _LORAWAN_MIX
    return _SENML_MIX if default_format == "senml" else _NATIVE_MIX


def id_prefix(profile: str) -> str:
    return ID_PREFIX.get(profile, profile.replace("_", "-")[:12])
