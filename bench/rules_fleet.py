"""A thousand rules over a fleet of air-quality devices, as a city might write them: most
are thresholds per district, the rest every other condition kind (consecutive, rate,
window, AND/OR, no-data, fleet), a few per device list. Deterministic for a seed."""

from __future__ import annotations

import random
from collections.abc import Sequence

from rules.definition.model import Rule

__all__ = ["DISTRICTS", "district_of", "make_rules"]

DISTRICTS = [f"D{i:02d}" for i in range(20)]
# Typical levels across the fleet: the range the city simulator's air-quality signals
# (the load generator's payloads) span over an evening; bench.rules_cost generates the
# same.
METRICS = {
    "pm25": (6.8, 25.0), "pm10": (15.4, 51.8), "no2": (17.4, 41.5), "o3": (5.0, 16.7),
    "temperature": (3.9, 8.2), "relativeHumidity": (61.0, 75.0),
}  # fmt: skip


def district_of(index: int) -> str:
    """The district of the fleet's ``index``-th device."""
    return DISTRICTS[index % len(DISTRICTS)]


def _threshold(rng: random.Random, metric: str) -> dict[str, object]:
    lo, hi = METRICS[metric]
    # Most thresholds lie above what the devices report (they would fire on a real
    # episode); one in 150 lies inside the range, so alarms come and go during a run.
    inside = rng.random() < 1 / 150
    above = round(
        hi + (hi - lo) * (rng.uniform(-0.3, 0.0) if inside else rng.uniform(0.02, 0.6)), 2
    )
    clear = round(above - (hi - lo) * 0.05, 2)
    return {"kind": "threshold", "metric": metric, "above": above, "clear": clear,
            "for": rng.choice(["0s", "5m", "10m", "15m"])}  # fmt: skip


def make_rules(device_ids: Sequence[str], n: int = 1000, seed: int = 1) -> list[Rule]:
    """``n`` rules over devices named in ``device_ids`` (spread over :data:`DISTRICTS`)."""
    rng = random.Random(seed)
    rules: list[Rule] = []
    for i in range(n):
        district = DISTRICTS[i % len(DISTRICTS)]
        metric = rng.choice(list(METRICS))
        scope: dict[str, object] = {"profile": "air_quality", "districts": [district]}
        roll = rng.random()
        cond: dict[str, object]
        if roll < 0.55:
            cond = _threshold(rng, metric)
        elif roll < 0.65:
            cond = {**_threshold(rng, metric), "kind": "consecutive", "count": 3}
            cond.pop("for")
        elif roll < 0.70:
            lo, hi = METRICS[metric]
            cond = {"kind": "rate", "metric": metric, "above": (hi - lo) * rng.uniform(0.3, 1.0),
                    "per": "1m"}  # fmt: skip
        elif roll < 0.75:
            cond = {"kind": "window", "metric": metric, "agg": rng.choice(["avg", "max"]),
                    "window": "15m", "above": _threshold(rng, metric)["above"]}  # fmt: skip
        elif roll < 0.83:
            other = rng.choice([m for m in METRICS if m != metric])
            cond = {"kind": rng.choice(["all", "any"]),
                    "conditions": [_threshold(rng, metric), _threshold(rng, other)]}  # fmt: skip
        elif roll < 0.93:
            cond = {"kind": "no_data", "for": "30m"}
        elif roll < 0.97:
            cond = {"kind": "fleet", "min_devices": 3, "for": "10m",
                    "condition": _threshold(rng, metric)}  # fmt: skip
        else:
            scope = {"devices": rng.sample(list(device_ids), min(10, len(device_ids)))}
            cond = _threshold(rng, metric)
        rules.append(
            Rule.model_validate(
                {"name": f"bench-{i:04d}", "severity": "minor", "scope": scope, "condition": cond}
            )
        )
    return rules
