"""Load mode: as many native JSON messages per second as asked, from one or more processes.

Each message carries a per-device sequence number (``seq`` 1, 2, ...), so a subscriber can
prove exactly what arrived: ``find_gaps(received, result.per_device)`` lists what is missing.
The hot path formats bytes from pre-encoded templates (no pydantic, no JSON encoder per
message). Devices are split between worker processes (device k goes to worker k mod P), so
each device's messages leave over one connection, in order. With ``gap_rate`` a worker
skips sequence numbers on purpose (``result.skipped`` says which) to exercise gap detection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from device_profiles import ProfileRegistry
from device_profiles.topics import TopicScheme

from .fleet import DEFAULT_CENTER, Fleet, SimDevice
from .load_worker import Flag, Plan, WorkerResult, init_process, process_main, work
from .signals import CitySignals
from .simulation import FIRST_SEQ
from .stats import Stats

__all__ = ["LoadResult", "find_gaps", "run_load", "value_templates"]

log = logging.getLogger(__name__)

N_TEMPLATES = 64


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load run sent. ``per_device[d]`` is the last seq of device ``d``: it sent
    seqs 1..n except those in ``skipped[d]``, and ``sent`` counts those distinct messages."""

    sent: int
    published: int  # including duplicates
    elapsed: float
    per_device: dict[str, int]
    skipped: dict[str, tuple[int, ...]]
    duplicates: int
    unacked: int  # QoS 1 messages the broker had not acknowledged when the run ended
    stats: Stats

    @property
    def rate(self) -> float:
        """Achieved messages per second (publishes, over the longest worker's time)."""
        return self.published / max(self.elapsed, 1e-9)

    def expected(self) -> set[tuple[str, int]]:
        """Every (device, seq) that was sent."""
        out: set[tuple[str, int]] = set()
        for device, last in self.per_device.items():
            skipped = set(self.skipped.get(device, ()))
            out.update((device, s) for s in range(FIRST_SEQ, last + 1) if s not in skipped)
        return out

    def summary(self) -> str:
        """Human summary: achieved rate, counts and faults."""
        gaps = sum(len(v) for v in self.skipped.values())
        return (
            f"sent {self.sent} messages from {len(self.per_device)} devices in "
            f"{self.elapsed:.2f} s: {self.rate:.0f} msg/s achieved\n"
            f"  duplicates {self.duplicates}, skipped seqs {gaps}, unacknowledged {self.unacked}"
            f", failed {self.stats.failed}"
        )


def find_gaps(
    received: Mapping[str, Iterable[int]], sent: Mapping[str, int]
) -> dict[str, list[int]]:
    """Sequence numbers missing per device: ``sent[d] = n`` means seqs 1..n were sent
    (FIRST_SEQ is 1); devices with nothing missing are left out."""
    gaps: dict[str, list[int]] = {}
    for device, last in sent.items():
        if last < FIRST_SEQ:
            continue
        got = np.fromiter(received.get(device, ()), dtype=np.int64)
        missing = np.setdiff1d(np.arange(FIRST_SEQ, last + 1, dtype=np.int64), got)
        if missing.size:
            gaps[device] = [int(s) for s in missing]
    return gaps


def value_templates(
    profiles: ProfileRegistry,
    profile: str,
    seed: int = 1,
    n: int = N_TEMPLATES,
    at: float | None = None,
) -> tuple[bytes, ...]:
    """``n`` pre-encoded JSON ``values`` objects of a profile, from the city signal models,
    at reporting intervals back from ``at`` (default: now; a fixed time gives the same
    values in every run)."""
    spec = profiles.get(profile)
    device = SimDevice("load-template", spec.name, "Old Town", *DEFAULT_CENTER, "json",
                       float(spec.reporting_interval_s), 0.0, 0, seed)  # fmt: skip
    fleet = Fleet((device,), seed, DEFAULT_CENTER, (), "", profiles)
    signals = CitySignals(fleet, seed)
    start = time.time() if at is None else at
    step = spec.reporting_interval_s
    return tuple(orjson.dumps(signals.values(device, start - i * step)) for i in range(n))


async def run_load(
    n_devices: int = 100,
    rate: float | None = 1000.0,
    *,
    duration: float | None = None,
    count: int | None = None,
    qos: int = 1,
    processes: int = 1,
    host: str = "127.0.0.1",
    port: int = 1883,
    scheme: TopicScheme | None = None,
    profile: str = "air_quality",
    fmt: str = "json",
    seed: int = 1,
    gap_rate: float = 0.0,
    duplicate_rate: float = 0.0,
    profiles: ProfileRegistry | None = None,
    progress: Callable[[int, float], None] | None = None,
    stop: asyncio.Event | None = None,
    id_prefix: str = "load-",
    device_interval_s: float | None = None,
    templates_at: float | None = None,
) -> LoadResult:
    """Publish ``count`` messages (or for ``duration`` seconds) at ``rate`` msg/s in total
    (None: as fast as possible) from ``n_devices`` devices over ``processes`` connections,
    one per process. ``progress(sent, elapsed)`` is called about twice a second. With
    ``device_interval_s``, device times step by that interval per message of a device and
    end about now (publishing still goes as fast as ``rate`` allows). ``templates_at``
    fixes the time the payload values are drawn from (reproducible values)."""
    if fmt != "json":
        raise ValueError("load mode publishes the native json format only")
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1")
    if count is None and not duration:
        raise ValueError("give a message count or a duration")
    if n_devices < 1 or processes < 1 or (rate is not None and rate <= 0):
        raise ValueError("devices, processes and rate must be positive")
    processes = min(processes, n_devices)
    scheme = scheme or TopicScheme()
    templates = value_templates(profiles or ProfileRegistry.load(), profile, seed, at=templates_at)
    ids = [f"{id_prefix}{k + 1:05d}" for k in range(n_devices)]
    token = uuid.uuid4().hex[:8]
    step_us = round(device_interval_s * 1e6) if device_interval_s else 0
    origin_us = 0
    if step_us:
        if count is None:
            raise ValueError("device_interval_s needs a message count")
        each = -(-count // n_devices)
        origin_us = time.time_ns() // 1000 - each * step_us  # ends about now
    plans = []
    for w in range(processes):
        mine = tuple(ids[w::processes])
        share = None if count is None else count // processes + (w < count % processes)
        plans.append(
            Plan(w, mine, tuple(scheme.telemetry_topic(d, "json") for d in mine), share,
                  duration, None if rate is None else rate / processes, qos, host, port,
                  f"citygate-load-{token}-{w}", templates, gap_rate, duplicate_rate, seed,
                  step_us, origin_us)
        )  # fmt: skip
    started = time.monotonic()
    stats = Stats()
    if processes == 1:
        counters: Any = [0]
        flag: Flag = threading.Event()
        pool: Executor = ThreadPoolExecutor(1, thread_name_prefix="citygate-load")
        job: Callable[[Plan], WorkerResult] = lambda p: work(p, counters, flag)  # noqa: E731
    else:
        ctx = multiprocessing.get_context("spawn")
        counters = ctx.Array("q", processes, lock=False)
        flag = ctx.Event()
        pool = ProcessPoolExecutor(processes, ctx, init_process, (counters, flag))
        job = process_main
    loop = asyncio.get_running_loop()
    waiter = asyncio.gather(*(loop.run_in_executor(pool, job, plan) for plan in plans))
    try:
        while not waiter.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), 0.5)
            if stop is not None and stop.is_set():
                flag.set()
            if progress is not None:
                progress(sum(counters[w] for w in range(processes)), time.monotonic() - started)
        results: list[WorkerResult] = waiter.result()
    except asyncio.CancelledError:
        flag.set()  # the workers stop, drain what they sent and return
        with contextlib.suppress(Exception):
            await asyncio.shield(waiter)
        raise
    finally:
        flag.set()
        pool.shutdown(wait=True)
    per_device = {d: last for r in results for d, last in r.per_device.items()}
    skipped = {d: tuple(s) for r in results for d, s in r.skipped.items()}
    published = sum(r.published for r in results)
    duplicates = sum(r.duplicates for r in results)
    stats.record("json", None, published - duplicates)
    if duplicates:
        stats.record("json", "duplicate", duplicates)
    gaps = sum(len(s) for s in skipped.values())
    if gaps:
        stats.by_fault["gap"] += gaps
    stats.failed = sum(r.failed for r in results)
    elapsed = max(r.elapsed for r in results)
    stats.finished = stats.started + elapsed
    return LoadResult(
        sent=published - duplicates,
        published=published,
        elapsed=elapsed,
        per_device=per_device,
        skipped=skipped,
        duplicates=duplicates,
        unacked=sum(r.unacked for r in results),
        stats=stats,
    )
