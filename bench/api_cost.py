"""API cost per request, in-process: the app called as ASGI (no HTTP server, no
client), so the figure is the Python work of one request of each scenario of
``bench.api_latency`` (and, for history, with the cache of final answers cold and warm).

    python -m bench.api_cost --reuse URL        # a database bench.api_latency filled
    python -m bench.api_cost --days 7           # load a scratch database first

Prints wall and process CPU time per request; no HTTP, so uvicorn's share (~0.1 ms) is
not in it. Everything is on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shlex
import sys
import time
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from api.app import create_app
from api.context import ApiContext, MetricCatalogue
from citygate.settings import load_settings
from citygate.wiring import api_config
from device_profiles import ProfileRegistry
from ingest.db import open_pool
from ingest.devices import ensure_metrics

from .api_data import describe_fleet_history, load_fleet_history
from .api_latency import SCENARIOS
from .env import bench_database

Asgi = Any


async def _call(app: Asgi, path: str) -> int:
    """One GET through the ASGI app; the response status."""
    raw, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw), "raw_path": raw.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def _measure(app: Asgi, paths: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms) per request over ``paths``."""
    t0, c0 = time.perf_counter(), time.process_time()
    for path in paths:
        status = await _call(app, path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    n = len(paths)
    return (time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000


async def main(args: argparse.Namespace) -> int:
    """Per scenario: a cold pass (history: nothing kept yet), then a warm pass."""
    print(f"command: python -m bench.api_cost {shlex.join(sys.argv[1:])}".rstrip())
    profiles = ProfileRegistry.load()
    async with contextlib.AsyncExitStack() as stack:
        if args.reuse:
            url = args.reuse
            data = await describe_fleet_history(url, profiles, args.devices)
        else:
            url = await stack.enter_async_context(bench_database([]))
            print(f"loading {args.days} days of the demo fleet ({args.devices} devices) ...")
            data = await load_fleet_history(url, profiles, args.devices, args.days, log=False)
        print(f"{data.rows:,} reading rows ({data.readings:,} readings)")
        settings = load_settings(database_url=url)
        config = replace(
            api_config(settings), rate_limit_per_s=1e9, rate_limit_burst=10**9,
            sta_mqtt_enabled=False,
        )  # fmt: skip
        async with open_pool(url, max_size=settings.db_pool_size) as pool:
            async with pool.acquire() as conn:
                ids = await ensure_metrics(conn, {m for p in profiles for m in p.metrics})
            rng = random.Random(args.seed)
            for scenario in SCENARIOS:
                if args.only and args.only not in scenario.name:
                    continue
                # A new app per scenario: every cache starts empty.
                app = create_app(ApiContext(pool, profiles, MetricCatalogue.of(ids), config))
                paths = [scenario.next_path(rng, data) for _ in range(args.requests)]
                await _measure(app, paths[:20])  # statements prepared, catalogue stored
                first = await _measure(app, paths)
                again = await _measure(app, paths)
                print(
                    f"{scenario.name}: first pass {first[0]:.2f} ms wall, {first[1]:.2f} ms "
                    f"CPU per request; the same requests again {again[0]:.2f} ms wall, "
                    f"{again[1]:.2f} ms CPU",
                    flush=True,
                )
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.api_cost", description=__doc__)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--devices", type=int, default=300)
    p.add_argument("--requests", type=int, default=1000, help="requests per pass")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--only", help="run only scenarios whose name contains this")
    p.add_argument("--reuse", metavar="URL", help="use this already loaded database (kept)")
    return p


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parser().parse_args())))
