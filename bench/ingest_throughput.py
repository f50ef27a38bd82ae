"""Ingest benchmark: MQTT QoS 1 -> gateway -> TimescaleDB, acknowledged after commit.

Modes (all on loopback, private Mosquitto, scratch database, stopping by themselves):

* ``drain``: the broker holds a backlog for the gateway's persistent session; time how
  fast the gateway empties it (publishers are not competing for the CPU).
* ``naive``: the same backlog drained by a naive gateway (paho-mqtt, one INSERT per
  message) for comparison.
* ``live``: publishers at a set rate while the gateway runs; achieved rate,
  publish-to-commit latency (p50/p99) and the gateway's memory over time.

``python -m bench.ingest_throughput`` runs drain, naive and live at half the drain rate
in one run and prints the figures with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg

from citygate.settings import Settings
from citygate.wiring import gateway_config, load_profiles
from citygate.workers import start_workers, stop_workers, worker_settings
from device_profiles.topics import TopicScheme
from gateway.mqtt import MqttConnection
from gateway.service import Gateway
from ingest.devices import ensure_metrics
from simulators.load import run_load

from .env import Broker, CpuMeter, bench_database, private_broker, rss_mb
from .naive import create_session, run_naive

PROFILE_METRICS = ["pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity"]


@dataclass
class Result:
    """One measured figure set."""

    name: str
    messages: int
    seconds: float
    cpu: dict[str, float]
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """A printable summary."""
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in self.cpu.items())
        extra = "".join(f", {k} {v}" for k, v in self.extra.items())
        return (
            f"{self.name:<8} {self.messages:>9,} msgs in {self.seconds:7.2f} s = "
            f"{self.rate:>9,.0f} msg/s ({self.rate * 6:,.0f} readings/s); cores: {cpu}{extra}"
        )


def _devices(n: int) -> list[str]:
    return [f"load-{k + 1:05d}" for k in range(n)]


@contextlib.asynccontextmanager
async def _setup(n_devices: int) -> AsyncIterator[tuple[str, Broker, TopicScheme]]:
    async with bench_database(_devices(n_devices)) as url:
        conn = await asyncpg.connect(url)
        try:
            await ensure_metrics(conn, PROFILE_METRICS)
        finally:
            await conn.close()
        with private_broker() as broker:
            yield url, broker, TopicScheme()


def _gateway(url: str, port: int) -> Gateway:
    settings = Settings(
        database_url=url,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        mqtt_client_id=f"bench-{uuid.uuid4().hex[:8]}",
        _env_file=None,
    )
    return Gateway(gateway_config(settings), load_profiles(settings))


@contextlib.asynccontextmanager
async def _running(gw: Gateway) -> AsyncIterator[Gateway]:
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(gw.run(), name="bench-gateway")
        await gw.ready.wait()
        try:
            yield gw
        finally:
            gw.stop()
            await task


async def _stored(gw: Gateway, readings: int, timeout: float = 600) -> float:
    """Wait until ``readings`` are committed; returns when (perf_counter)."""
    counter = gw.writer_metrics.readings_stored
    deadline = time.perf_counter() + timeout
    while counter._value.get() < readings:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {counter._value.get():.0f} of {readings} readings stored")
        await asyncio.sleep(0.01)
    return time.perf_counter()


async def drain(messages: int, n_devices: int, processes: int) -> Result:
    """Backlog first, then the gateway empties it."""
    async with _setup(n_devices) as (url, broker, scheme):
        gw = _gateway(url, broker.port)
        conn = await MqttConnection.open(gw.config.mqtt, lambda *a: None)
        await conn.subscribe(scheme.subscriptions())
        await conn.disconnect()
        load = await run_load(
            n_devices, None, count=messages, processes=processes, port=broker.port,
            scheme=scheme,
        )  # fmt: skip
        async with _running(gw):
            cpu = CpuMeter.begin()
            started = time.perf_counter()
            done = await _stored(gw, load.sent * 6)
            cores = cpu.cores(done - started)  # while the gateway's backends still exist
        return Result(
            "drain", load.sent, done - started, cores, {"publisher msg/s": f"{load.rate:,.0f}"}
        )


async def _poll(
    db: asyncpg.Connection, query: str, expected: object, every: float, *args: object
) -> None:
    """Wait until ``query`` returns ``expected`` (the workers are other processes)."""
    while True:
        if await db.fetchval(query, *args) == expected:
            return
        await asyncio.sleep(every)


async def drain_workers(messages: int, n_devices: int, processes: int, workers: int) -> Result:
    """The drain with ``workers`` gateway processes on a shared subscription (what
    ``citygate gateway --workers N`` runs). Timed from the first stored row to the last,
    polling the row count five times a second (so within about 0.2 s)."""
    async with _setup(n_devices) as (url, broker, scheme):
        settings = Settings(
            database_url=url,
            mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
            mqtt_client_id=f"bench-{uuid.uuid4().hex[:8]}",
            log_level="WARNING",
            _env_file=None,
        )
        for i in range(1, workers + 1):
            cfg = gateway_config(worker_settings(settings, i))
            conn = await MqttConnection.open(cfg.mqtt, lambda *a: None)
            await conn.subscribe(cfg.scheme.subscriptions(cfg.shared_group))
            await conn.disconnect()
        load = await run_load(
            n_devices, None, count=messages, processes=processes, port=broker.port,
            scheme=scheme,
        )  # fmt: skip
        procs = start_workers(settings, workers)
        db = await asyncpg.connect(url)
        try:
            await _poll(db, "SELECT count(*) > 0 FROM readings", True, 0.01)
            cpu = CpuMeter.begin()
            started = time.perf_counter()
            await _poll(db, "SELECT count(*) >= $1 FROM readings", True, 0.2, load.sent)
            done = time.perf_counter()
            cores = cpu.cores(done - started)
        finally:
            await db.close()
            await asyncio.to_thread(stop_workers, procs)
        return Result(f"drain x{workers}", load.sent, done - started, cores)


async def naive(messages: int, n_devices: int, processes: int) -> Result:
    """The same backlog drained by the naive gateway."""
    async with _setup(n_devices) as (url, broker, scheme):
        client_id = f"naive-{uuid.uuid4().hex[:8]}"
        topic = f"{scheme.prefix}/+/telemetry/+"
        await asyncio.to_thread(create_session, broker.port, client_id, topic)
        load = await run_load(
            n_devices, None, count=messages, processes=processes, port=broker.port,
            scheme=scheme,
        )  # fmt: skip
        cpu = CpuMeter.begin()
        cores: dict[str, float] = {}
        seconds = await asyncio.to_thread(
            run_naive, broker.port, client_id, topic, url, load.sent,
            lambda s: cores.update(cpu.cores(s)),
        )  # fmt: skip
        return Result("naive", load.sent, seconds, cores)


def _quantile(gw: Gateway, q: float, name: str = "citygate_publish_to_commit_seconds") -> float:
    """Upper bound of the histogram bucket holding quantile ``q``."""
    buckets: list[tuple[float, float]] = []
    for metric in gw.prometheus.collect():
        if metric.name == name:
            for s in metric.samples:
                if s.name.endswith("_bucket"):
                    buckets.append((float(s.labels["le"]), s.value))
    total = buckets[-1][1] if buckets else 0
    for bound, cumulative in buckets:
        if cumulative >= q * total:
            return bound
    return float("inf")


def _max_commit(gw: Gateway) -> float:
    return gw.writer_metrics.max_commit_seconds


async def live(rate: float, duration: float, n_devices: int, processes: int) -> Result:
    """Publishers at ``rate`` for ``duration`` seconds while the gateway runs."""
    async with _setup(n_devices) as (url, broker, scheme):
        gw = _gateway(url, broker.port)
        async with _running(gw):
            memory = [rss_mb()]

            async def sample_memory() -> None:
                while True:
                    await asyncio.sleep(max(1.0, duration / 20))
                    memory.append(rss_mb())

            cpu = CpuMeter.begin()
            started = time.perf_counter()
            async with asyncio.TaskGroup() as tg:
                sampler = tg.create_task(sample_memory(), name="memory-sampler")
                load = await run_load(
                    n_devices, rate, duration=duration, processes=processes,
                    port=broker.port, scheme=scheme,
                )  # fmt: skip
                done = await _stored(gw, load.sent * 6)
                sampler.cancel()
            seconds = done - started
            return Result(
                "live", load.sent, seconds, cpu.cores(seconds),
                {
                    "target msg/s": f"{rate:,.0f}",
                    "publish->commit p50 <=": f"{_quantile(gw, 0.5) * 1000:.0f} ms",
                    "p99 <=": f"{_quantile(gw, 0.99) * 1000:.0f} ms",
                    "commit p99 <=": "{:.0f} ms".format(
                        _quantile(gw, 0.99, "citygate_batch_commit_seconds") * 1000
                    ),
                    "max commit": f"{_max_commit(gw) * 1000:.0f} ms",
                    "gateway RSS MiB start/max/end": "/".join(
                        f"{m:.0f}" for m in (memory[0], max(memory), memory[-1])
                    ),
                },
            )  # fmt: skip


async def main(argv: list[str]) -> int:
    """Run the chosen modes and print their figures."""
    p = argparse.ArgumentParser(prog="python -m bench.ingest_throughput")
    p.add_argument("--mode", choices=["all", "drain", "naive", "live"], default="all")
    p.add_argument("--messages", type=int, default=200_000, help="drain backlog size")
    p.add_argument("--naive-messages", type=int, default=20_000)
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--processes", type=int, default=2, help="publisher processes")
    p.add_argument(
        "--workers", type=int, default=1,
        help="also drain with this many gateway processes on a shared subscription",
    )  # fmt: skip
    p.add_argument("--rate", type=float, default=0, help="live rate; 0 = half the drain rate")
    p.add_argument("--duration", type=float, default=60.0, help="live duration, seconds")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"command: python -m bench.ingest_throughput {shlex.join(argv)}".rstrip())
    results: list[Result] = []
    if args.mode in ("all", "drain"):
        results.append(await drain(args.messages, args.devices, args.processes))
        print(results[-1].line(), flush=True)
    if args.mode in ("all", "drain") and args.workers > 1:
        results.append(
            await drain_workers(args.messages, args.devices, args.processes, args.workers)
        )
        print(results[-1].line(), flush=True)
    if args.mode in ("all", "naive"):
        results.append(await naive(args.naive_messages, args.devices, args.processes))
        print(results[-1].line(), flush=True)
    if args.mode == "all":
        best = max(r.rate for r in results if r.name.startswith("drain"))
        naive_rate = next(r.rate for r in results if r.name == "naive")
        print(f"ratio   best drain / naive = {best / naive_rate:.1f}x", flush=True)
    if args.mode in ("all", "live"):
        rate = args.rate or (results[0].rate / 2 if results else 20_000)
        results.append(await live(rate, args.duration, args.devices, args.processes))
        print(results[-1].line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
