"""CPU cost of the gateway's hot path per message, without broker or database:
``Pipeline.handle`` on native air-quality messages (the fast path), in one process."""

from __future__ import annotations

import random
import sys
import time

import orjson
from prometheus_client import CollectorRegistry

from device_profiles import ProfileRegistry
from device_profiles.topics import TopicScheme
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Limits, Pipeline
from gateway.registry import DeviceRegistry
from gateway.status import StatusTracker
from ingest.devices import DeviceRow

MESSAGES = 50_000
DEVICES = 1000


def main() -> int:
    """Best of three runs, in microseconds per message."""
    print("command: python -m bench.pipeline_cost")
    profiles = ProfileRegistry.load()
    metric_ids = {m: i for i, m in enumerate(sorted({m for p in profiles for m in p.metrics}), 1)}
    rng = random.Random(1)
    now = time.time()
    messages = [
        (
            f"devices/aq-{i % DEVICES}/telemetry",
            orjson.dumps({
                "id": f"aq-{i % DEVICES}", "ts": now - 1, "seq": i // DEVICES + 1,
                "values": {m: round(rng.uniform(1, 40), 1) for m in (
                    "pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity")},
            }),
        )
        for i in range(MESSAGES)
    ]  # fmt: skip
    best = float("inf")
    for _ in range(3):
        registry = DeviceRegistry(profiles)
        for k in range(DEVICES):
            registry.put(DeviceRow(k + 1, f"aq-{k}", "air_quality", True, {}, None, None, None))
        metrics = GatewayMetrics(CollectorRegistry())
        pipeline = Pipeline(
            TopicScheme(), registry, metric_ids, Limits(), metrics,
            StatusTracker(registry, metrics), full_at=10**9,
        )  # fmt: skip
        handle = pipeline.handle
        started = time.perf_counter()
        for token, (topic, payload) in enumerate(messages):
            handle(topic, payload, token, time.time_ns() // 1000)
        best = min(best, time.perf_counter() - started)
        assert pipeline.batch.readings == MESSAGES * 6
    print(f"Pipeline.handle: {best / MESSAGES * 1e6:.1f} µs per message "
          f"({MESSAGES / best:,.0f} messages/s on one core)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
