"""CPU cost of rule evaluation per message, without broker or database: the evaluator fed
committed batches of air-quality messages (6 readings each) from 2,000 devices, with
1,000 rules (``bench.rules_fleet``), against the same batches with no rules."""

from __future__ import annotations

import random
import sys
import time

import numpy as np

from device_profiles import ProfileRegistry
from ingest.feed import Committed
from rules.evaluation.compile import StoredRule
from rules.evaluation.devices import DeviceInfo, DeviceTable
from rules.evaluation.evaluator import Evaluator

from .rules_fleet import METRICS, district_of, make_rules

DEVICES = 2000
BATCH = 5000  # messages per committed batch
BATCHES = 40
NAMES = ["pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity"]


def _batches(metric_ids: dict[str, int], start_us: int) -> list[Committed]:
    rng = np.random.default_rng(1)
    out = []
    lo = np.asarray([METRICS[m][0] for m in NAMES], np.float64)
    hi = np.asarray([METRICS[m][1] for m in NAMES], np.float64)
    base = rng.uniform(lo, hi, size=(DEVICES, 6))
    amp = (hi - lo) * 0.2
    ids = np.asarray([metric_ids[m] for m in NAMES], np.int16)
    for b in range(BATCHES):
        n = BATCH
        msg = np.arange(b * n, (b + 1) * n)
        dev = (msg % DEVICES + 1).astype(np.int32)
        t = start_us + (msg // DEVICES) * 300_000_000 + (msg % DEVICES) * 1000
        # Smooth signals: each device has its own level per metric, a slow daily swing
        # and a little noise (what sensors report; uniform noise would flip every
        # threshold at every reading).
        level = base[dev - 1]
        swing = np.sin((t / 86_400e6) * 2 * np.pi)[:, None] * amp
        vals = level + swing + rng.normal(0, 1, size=(n, 6)) * amp * 0.05
        out.append(
            Committed(
                np.repeat(dev, 6),
                np.repeat(t.astype(np.int64), 6),
                np.tile(ids, n),
                vals.reshape(-1),
                np.repeat(t.astype(np.int64), 6),
                None,
            )
        )
    return out


def main() -> int:
    """Best of three runs, microseconds per message, with 0 and 1,000 rules."""
    print("command: python -m bench.rules_cost")
    profiles = ProfileRegistry.load()
    metric_ids = {m: i for i, m in enumerate(sorted({m for p in profiles for m in p.metrics}), 1)}
    ids = [f"load-{k + 1:05d}" for k in range(DEVICES)]
    table = DeviceTable(
        DeviceInfo(k + 1, ids[k], "air_quality", district_of(k)) for k in range(DEVICES)
    )
    rules = [StoredRule(i + 1, 1, r) for i, r in enumerate(make_rules(ids, 1000))]
    start_us = time.time_ns() // 1000 - 86_400_000_000
    batches = _batches(metric_ids, start_us)
    random.seed(1)
    for label, chosen in (("no rules", []), ("1,000 rules", rules)):
        best = float("inf")
        events = 0
        for _ in range(3):
            ev = Evaluator(profiles, metric_ids)
            ev.configure(chosen, table, start_us)
            started = time.perf_counter()
            events = sum(len(ev.feed(c)) for c in batches)
            best = min(best, time.perf_counter() - started)
        per = best / (BATCH * BATCHES) * 1e6
        slots = ev.compiled.n_slots
        print(f"{label:>12}: {per:6.2f} µs per message ({slots:,} condition-device slots, "
              f"{ev.evaluated:,} evaluations, {events} alarm transitions)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
