"""API latency benchmark: the open data API under concurrent clients, over real HTTP.

A scratch database gets N days of the demo fleet (``bench.api_data``); the API runs in a
child process exactly as ``citygate serve`` runs it (uvicorn, one process, pool of
``CITYGATE_DB_POOL_SIZE`` connections); this process plays ``--clients`` concurrent
clients, each on its own keep-alive connection, for ``--seconds`` after a warm-up, twice
per scenario: back to back (each client sends its next request as soon as it has read
the answer: the server saturated, latency is mostly queueing) and paced (each client
pauses ``--think`` seconds on average between requests, as a user or a dashboard does).
Everything is on loopback and stops by itself.

Scenarios are entries of ``SCENARIOS``: a name, a p99 target and a function that gives
the next request path. Each line reports how often the API's cache of final history
answers was hit (``api/open_data/final_cache.py``): calendar days repeat and are served
from it; "any 24 hours" never repeats and shows what a fresh answer costs.

    python -m bench.api_latency                 # 30 days, 300 devices, 50 clients
    python -m bench.api_latency --days 7 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import quote

import numpy as np

from api.context import ApiContext, MetricCatalogue
from api.service import ApiService
from citygate.commands import freeze_startup_objects
from citygate.settings import load_settings
from citygate.wiring import api_config
from device_profiles import ProfileRegistry
from ingest.db import open_pool
from ingest.devices import ensure_metrics

from .api_data import DataSet, describe_fleet_history, load_fleet_history
from .env import CpuMeter, bench_database
from .http_load import LoadResult, run_load

# ---------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named request mix with its p99 target (ms)."""

    name: str
    target_p99_ms: float
    next_path: Callable[[random.Random, DataSet], str]
    describe: str = ""


def _latest(rng: random.Random, data: DataSet) -> str:
    return "/api/v1/latest"


def _one_day(profile: str, metric: str) -> Callable[[random.Random, DataSet], str]:
    def path(rng: random.Random, data: DataSet) -> str:
        device = rng.choice([d.id for d in data.fleet if d.profile == profile])
        day = data.start + timedelta(days=rng.randrange((data.end - data.start).days))
        start = quote(day.isoformat())
        end = quote((day + timedelta(days=1)).isoformat())
        return f"/api/v1/devices/{device}/metrics/{metric}/history?from={start}&to={end}&bucket=1m"

    return path


def _any_day(profile: str, metric: str) -> Callable[[random.Random, DataSet], str]:
    """24 hours from a random minute of the month: no two requests share an answer, so
    none is served from the cache of final answers (the cost of a fresh one)."""

    def path(rng: random.Random, data: DataSet) -> str:
        device = rng.choice([d.id for d in data.fleet if d.profile == profile])
        minutes = int((data.end - data.start).total_seconds() // 60) - 2 * 1440
        t0 = data.start.replace(second=0, microsecond=0) + timedelta(
            minutes=rng.randrange(max(1, minutes))
        )
        start, end = quote(t0.isoformat()), quote((t0 + timedelta(days=1)).isoformat())
        return f"/api/v1/devices/{device}/metrics/{metric}/history?from={start}&to={end}&bucket=1m"

    return path


def _sta_observations(rng: random.Random, data: DataSet) -> str:
    """A page of a Datastream's Observations filtered on a random hour of the month."""
    stream = rng.choice(data.pm25_datastreams)
    hours = int((data.end - data.start).total_seconds() // 3600) - 1
    t0 = data.start + timedelta(hours=rng.randrange(max(1, hours)))
    t1 = t0 + timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    flt = quote(f"phenomenonTime ge {t0:{fmt}} and phenomenonTime lt {t1:{fmt}}")
    return f"/v1.1/Datastreams({stream})/Observations?$filter={flt}&$top=100"


SCENARIOS: list[Scenario] = [
    Scenario("latest values, all devices", 50.0, _latest, "GET /api/v1/latest"),
    Scenario(
        "one day of one metric, 1-minute buckets",
        100.0,
        _one_day("noise", "LAeq"),
        "a random noise meter's LAeq (reports every minute: 1440 buckets), a random day",
    ),
    Scenario(
        "one day of one metric, 1-minute buckets (air quality)",
        100.0,
        _one_day("air_quality", "pm25"),
        "a random air-quality station's pm25 (every 5 minutes: 288 buckets), a random day",
    ),
    Scenario(
        "any 24 hours of one metric, 1-minute buckets (never the same twice)",
        100.0,
        _any_day("noise", "LAeq"),
        "a random noise meter's LAeq, 24 hours from a random minute: every answer is new",
    ),
    Scenario(
        "SensorThings Observations page, $filter on time",
        100.0,
        _sta_observations,
        "GET /v1.1/Datastreams(id)/Observations?$filter=phenomenonTime ge .. and lt ..&$top=100"
        " (a random station's pm25, a random hour)",
    ),
]

# ---------------------------------------------------------------------------------------
# The server (child process)


async def serve(url: str, port: int) -> None:
    """Serve the API over ``url`` until SIGTERM, configured as ``citygate serve`` is,
    with the keyless rate limit lifted (all clients share one loopback address)."""
    settings = load_settings(database_url=url)
    config = replace(api_config(settings), rate_limit_per_s=1e9, rate_limit_burst=10**9)
    profiles = ProfileRegistry.load()
    async with open_pool(url, max_size=settings.db_pool_size) as pool:
        async with pool.acquire() as conn:
            catalogue = await ensure_metrics(conn, {m for p in profiles for m in p.metrics})
        ctx = ApiContext(pool, profiles, MetricCatalogue.of(catalogue), config)
        service = ApiService(ctx, "127.0.0.1", port)
        freeze_startup_objects()  # as citygate serve does
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, service.stop)
        await service.run()


# ---------------------------------------------------------------------------------------
# The run


@dataclass
class Report:
    """Figures of one scenario."""

    scenario: Scenario
    load: LoadResult
    cpu: dict[str, float] = field(default_factory=dict)
    cache: tuple[float, ...] = (0.0, 0.0)  # final answers found / not found, warm-up included

    def line(self) -> str:
        """The figures, on one line."""
        lat = np.array(self.load.latencies) * 1000
        p50, p90, p99 = (float(np.percentile(lat, q)) if len(lat) else 0.0 for q in (50, 90, 99))
        ok = "meets" if p99 < self.scenario.target_p99_ms else "misses"
        return (
            f"{len(lat):,} requests in {self.load.seconds:.0f} s "
            f"= {len(lat) / self.load.seconds:,.0f} req/s; p50 {p50:.1f} ms, p90 {p90:.1f} ms, "
            f"p99 {p99:.1f} ms (target < {self.scenario.target_p99_ms:.0f} ms: {ok}); "
            f"max {float(lat.max()) if len(lat) else 0:.1f} ms; errors {self.load.errors}; "
            f"body {self.load.mean_bytes / 1024:,.1f} KiB; cores {self.cpu}{self._cache()}"
        )

    def _cache(self) -> str:
        hits, misses = self.cache
        if not hits + misses:
            return ""
        return f"; history cache hits {hits / (hits + misses):.0%} of {hits + misses:,.0f}"


async def _cache_lookups(port: int) -> tuple[float, float]:
    """Lookups of the API's cache of final history answers so far: (hits, misses)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    found = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("citygate_api_history_cache_lookups_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = float(line.rsplit(" ", 1)[1])
    return found["hit"], found["miss"]


async def _wait_healthy(port: int, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError("the API process exited")
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            ok = (await reader.read()).startswith(b"HTTP/1.1 200")
            writer.close()
            if ok:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("the API did not come up in 60 s")


async def main(args: argparse.Namespace) -> int:
    """Load the data, start the API, run every scenario, print the figures."""
    print(f"command: python -m bench.api_latency {shlex.join(sys.argv[1:])}".rstrip())
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    async with contextlib.AsyncExitStack() as stack:
        if args.reuse:  # a database an earlier run of load_fleet_history filled
            url = args.reuse
            data = await describe_fleet_history(url, ProfileRegistry.load(), args.devices)
        else:
            url = await stack.enter_async_context(bench_database([]))
            print(f"loading {args.days} days of the demo fleet ({args.devices} devices) ...")
            data = await load_fleet_history(url, ProfileRegistry.load(), args.devices, args.days)
        print(
            f"stored {data.rows:,} reading rows ({data.readings:,} readings), "
            f"{data.rollup_1m:,} 1-minute and {data.rollup_1h:,} 1-hour rollup rows, "
            f"for {len(data.fleet)} devices in {data.seconds:.0f} s"
        )
        port = args.port or _free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.api_latency", "serve", "--url", url,
            "--port", str(port),
        )  # fmt: skip
        try:
            await _wait_healthy(port, proc)
            rng = random.Random(args.seed)
            for scenario in SCENARIOS:
                if args.only and args.only not in scenario.name:
                    continue

                def next_path(s: Scenario = scenario) -> str:
                    return s.next_path(rng, data)

                print(f"{scenario.name} ({scenario.describe})")
                for think in (0.0, args.think):
                    meter = CpuMeter.begin()
                    kept_before = await _cache_lookups(port)
                    result = await run_load(
                        port, next_path, clients=args.clients, seconds=args.seconds,
                        warmup=args.warmup, think=think,
                    )  # fmt: skip
                    report = Report(scenario, result, meter.cores(result.seconds + args.warmup))
                    kept_after = await _cache_lookups(port)
                    report.cache = tuple(
                        a - b for a, b in zip(kept_after, kept_before, strict=True)
                    )
                    mode = (
                        f"{args.clients} clients, think {think:g} s"
                        if think
                        else f"{args.clients} clients, back to back"
                    )
                    print(f"  {mode}: {report.line()}", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.api_latency", description=__doc__)
    sub = p.add_subparsers(dest="mode")
    s = sub.add_parser("serve", help="(internal) serve the API for the benchmark")
    s.add_argument("--url", required=True)
    s.add_argument("--port", type=int, required=True)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--devices", type=int, default=300)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    p.add_argument(
        "--think", type=float, default=0.5,
        help="mean pause of each client between requests in the paced runs (s)",
    )  # fmt: skip
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--only", help="run only scenarios whose name contains this")
    p.add_argument("--reuse", metavar="URL", help="use this already loaded database (kept)")
    return p


if __name__ == "__main__":
    ns = _parser().parse_args()
    if ns.mode == "serve":
        asyncio.run(serve(ns.url, ns.port))
        sys.exit(0)
    sys.exit(asyncio.run(main(ns)))
