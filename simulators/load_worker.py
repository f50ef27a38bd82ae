"""The load-mode hot loop, run in a thread or in a spawned worker process.

Payloads are formatted from pre-encoded pieces with one bytes ``%`` per message; the only
per-message objects are the payload and paho's packet.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

from .rawpub import RawPublisher
from .simulation import FIRST_SEQ

__all__ = ["Flag", "Plan", "WorkerResult", "init_process", "process_main", "work"]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 512  # messages between two progress counter updates
DRAIN_TIMEOUT = 30.0


class Flag(Protocol):
    def is_set(self) -> bool: ...
    def set(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Plan:
    """What one worker does (picklable: it crosses into spawned processes)."""

    worker: int
    devices: tuple[str, ...]
    topics: tuple[str, ...]
    count: int | None
    duration: float | None
    rate: float | None  # messages per second for this worker; None = as fast as possible
    qos: int
    host: str
    port: int
    client_id: str
    templates: tuple[bytes, ...]
    gap_rate: float
    duplicate_rate: float
    seed: int
    # 0: device time is the publish time. Else device time starts at ``time_origin_us``
    # and steps by this much per message of a device (a reporting interval: what the
    # rules benchmark needs, since rates and durations run on device time).
    time_step_us: int = 0
    time_origin_us: int = 0


@dataclass(frozen=True, slots=True)
class WorkerResult:
    per_device: dict[str, int]
    skipped: dict[str, list[int]]
    published: int
    duplicates: int
    unacked: int
    failed: int
    elapsed: float


_COUNTERS: Any = None
_STOP: Any = None


def init_process(counters: Any, stop: Any) -> None:
    global _COUNTERS, _STOP
    _COUNTERS, _STOP = counters, stop


def process_main(plan: Plan) -> WorkerResult:
    return work(plan, _COUNTERS, _STOP)


def work(plan: Plan, counters: Any, stop: Flag) -> WorkerResult:
    """Publish the plan's messages, paced to its rate; blocking."""
    rnd = random.Random(plan.seed * 1009 + plan.worker)
    heads = [b'{"id":"%s","ts":' % d.encode() for d in plan.devices]
    seqs = [FIRST_SEQ - 1] * len(plan.devices)
    last_us = [0] * len(plan.devices)
    skipped: dict[str, list[int]] = {}
    templates, n_t = plan.templates, len(plan.templates)
    n_dev, qos, topics = len(plan.devices), plan.qos, plan.topics
    gap, dup = plan.gap_rate, plan.duplicate_rate
    interval = 1.0 / plan.rate if plan.rate else 0.0
    duplicates = i = 0
    with RawPublisher(plan.host, plan.port, plan.client_id) as pub:
        start = time.perf_counter()
        end = start + plan.duration if plan.duration else float("inf")
        limit = plan.count if plan.count is not None else -1
        publish, wait_room = pub.publish, pub.wait_room
        clock = time.perf_counter

        def now_us() -> int:
            return time.time_ns() // 1000

        while i != limit:
            if not i % PROGRESS_EVERY:
                counters[plan.worker] = i
                if stop.is_set() or clock() >= end:
                    break
            if interval:
                ahead = start + i * interval - clock()
                if ahead > 0.001:
                    time.sleep(ahead)
            if pub.outstanding >= pub.max_outstanding:
                wait_room()
            d = i % n_dev
            seq = seqs[d] + 1
            if gap and rnd.random() < gap:
                skipped.setdefault(plan.devices[d], []).append(seq)
                seq += 1
            seqs[d] = seq
            # Microseconds, strictly increasing per device: a burst (after the broker
            # made us wait) must not give one device two messages at the same time,
            # which the gateway would rightly store as one (same device, same time).
            if plan.time_step_us:
                ts_us = plan.time_origin_us + (seq - FIRST_SEQ) * plan.time_step_us + d
            else:
                ts_us = now_us()
            if ts_us <= last_us[d]:
                ts_us = last_us[d] + 1
            last_us[d] = ts_us
            payload = b'%s%d.%06d,"seq":%d,"values":%s}' % (
                heads[d], *divmod(ts_us, 1_000_000), seq, templates[(seq + d) % n_t]
            )  # fmt: skip
            publish(topics[d], payload, qos)
            if dup and rnd.random() < dup:
                publish(topics[d], payload, qos)
                duplicates += 1
            i += 1
        counters[plan.worker] = i
        drained = pub.drain(DRAIN_TIMEOUT)
        elapsed = time.perf_counter() - start
        if not drained:
            log.warning("worker %d: %d messages unacknowledged", plan.worker, pub.outstanding)
        return WorkerResult(
            per_device={dev: seqs[k] for k, dev in enumerate(plan.devices)},
            skipped=skipped,
            published=pub.published,
            duplicates=duplicates,
            unacked=pub.outstanding,
            failed=pub.failed,
            elapsed=elapsed,
        )
