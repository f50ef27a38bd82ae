"""Ingest throughput with 1,000 active rules against none, in the same run, and
back-testing speed.

* ``drain``: the gateway empties a backlog of air-quality messages (as in
  ``bench.ingest_throughput``), once with no rules and once with the rules engine
  evaluating 1,000 rules (``bench.rules_fleet``) on every committed batch, alternating,
  so both see the same machine. Reports msg/s of each and the ratio.
* ``backtest``: 30 days of one metric for 1,000 devices stored (generated with SQL),
  one rule back-tested over them.

Loopback only, a scratch database and a private broker; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from device_profiles import ProfileRegistry
from gateway.mqtt import MqttConnection
from ingest.db import open_pool
from ingest.devices import ensure_metrics
from rules.backtest import backtest
from rules.definition.model import Rule
from rules.engine import EngineConfig, RulesEngine
from rules.store import save_rule
from simulators.load import run_load

from .env import CpuMeter, bench_database
from .ingest_throughput import _devices, _gateway, _running, _setup, _stored
from .rules_fleet import DISTRICTS, make_rules

log = logging.getLogger(__name__)

# Payload values from a fixed evening (2026-11-30 23:40 UTC back over 5 hours), so every
# run sends the same values: bench.rules_fleet's levels are this evening's range.
TEMPLATES_AT = 1_796_082_000.0


async def _prepare(url: str, n_devices: int, rules: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE devices SET district = ($1::text[])[1 + (device_key % $2)]",
            DISTRICTS, len(DISTRICTS),
        )  # fmt: skip
        for rule in make_rules(_devices(n_devices), rules):
            await save_rule(conn, rule)
    finally:
        await conn.close()


async def drain_once(
    messages: int, n_devices: int, processes: int, rules: int
) -> tuple[float, dict[str, float], int]:
    """One drain; returns msg/s, cores, and alarms written."""
    async with _setup(n_devices) as (url, broker, scheme):
        if rules:
            await _prepare(url, n_devices, rules)
        gw = _gateway(url, broker.port)
        conn = await MqttConnection.open(gw.config.mqtt, lambda *a: None)
        await conn.subscribe(scheme.subscriptions())
        await conn.disconnect()
        # Device times 5 minutes apart per device (the profile's interval), as a city's
        # devices report: rates, windows and durations then mean what they say.
        load = await run_load(
            n_devices, None, count=messages, processes=processes, port=broker.port,
            scheme=scheme, device_interval_s=300, templates_at=TEMPLATES_AT,
        )  # fmt: skip
        async with open_pool(url, max_size=4) as pool:
            engine = None
            if rules:
                engine = RulesEngine(pool, gw.profiles, gw.feed, EngineConfig(url), gw.prometheus)
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(engine.run(), name="bench-rules") if engine else None
                if engine is not None:
                    await engine.ready.wait()
                async with _running(gw):
                    cpu = CpuMeter.begin()
                    started = time.perf_counter()
                    done = await _stored(gw, load.sent * 6)
                    cores = cpu.cores(done - started)
                if engine is not None:
                    while not engine.idle:  # noqa: ASYNC110 - a property, not an event
                        await asyncio.sleep(0.05)
                alarms = engine.written if engine else 0
                if task is not None:
                    task.cancel()
        return load.sent / (done - started), cores, alarms


async def drain(messages: int, n_devices: int, processes: int, rules: int, rounds: int) -> None:
    """Alternate drains without and with rules; print each and the ratio of the medians."""
    rates: dict[int, list[float]] = {0: [], rules: []}
    for r in range(rounds):
        for n in (0, rules):
            rate, cores, alarms = await drain_once(messages, n_devices, processes, n)
            rates[n].append(rate)
            cpu = ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
            print(f"round {r + 1} {n:>5} rules: {rate:9,.0f} msg/s; cores: {cpu}; "
                  f"alarm changes written: {alarms}", flush=True)  # fmt: skip
    med = {n: sorted(v)[len(v) // 2] for n, v in rates.items()}
    print(f"median: no rules {med[0]:,.0f} msg/s, {rules} rules {med[rules]:,.0f} msg/s: "
          f"{med[rules] / med[0] * 100:.0f}% (target >= 80%)", flush=True)  # fmt: skip


_FILL = """
INSERT INTO readings (time, device_key, metric_ids, vals, states, received_at)
SELECT ts, d.device_key, ARRAY[$3::smallint],
       ARRAY[40 + 15 * sin(extract(epoch FROM ts) / 86400 * 2 * pi() + d.device_key)
             + 8 * sin(extract(epoch FROM ts) / 3600 + d.device_key * 7)], NULL, ts
FROM devices d, generate_series($1::timestamptz, $2::timestamptz, interval '5 minutes') AS ts
"""


async def backtest_bench(n_devices: int, days: int) -> None:
    """Store ``days`` of one metric at 5-minute intervals for ``n_devices``, back-test."""
    names = _devices(n_devices)
    async with bench_database(names) as url:
        conn = await asyncpg.connect(url)
        try:
            ids = await ensure_metrics(conn, ["no2"])
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            start = end - timedelta(days=days)
            t = time.perf_counter()
            for d in range(days):  # a day at a time keeps the transaction small
                a, b = start + timedelta(days=d), start + timedelta(days=d + 1, microseconds=-1)
                await conn.execute(_FILL, a, b, ids["no2"])
            rows = await conn.fetchval("SELECT count(*) FROM readings")
            print(f"stored {rows:,} readings ({n_devices} devices x {days} days, every 5 min) "
                  f"in {time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
            await conn.execute("VACUUM ANALYZE readings")
            rule = Rule.model_validate({
                "name": "no2 high", "scope": {"profile": "air_quality"},
                "condition": {"kind": "threshold", "metric": "no2", "above": 60, "clear": 55,
                              "for": "15m"},
            })  # fmt: skip
            profiles = ProfileRegistry.load()
            metric_ids = await ensure_metrics(conn, {m for p in profiles for m in p.metrics})
            second = await asyncpg.connect(url)  # reads the next day while one is evaluated
            try:
                for attempt in range(2):
                    result = await backtest(
                        conn, rule, start, end, profiles, metric_ids, more=[second]
                    )
                    print(f"backtest {attempt + 1}: {result.readings:,} readings of "
                          f"{result.devices} devices over {days} days in {result.seconds:.2f} s "
                          f"({result.readings / result.seconds:,.0f} readings/s), "
                          f"{len(result.alarms):,} alarms", flush=True)  # fmt: skip
            finally:
                await second.close()
        finally:
            await conn.close()


async def main(argv: list[str]) -> int:
    """Run the chosen parts and print their figures."""
    p = argparse.ArgumentParser(prog="python -m bench.rules_overhead")
    p.add_argument("--mode", choices=["all", "drain", "backtest"], default="all")
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--rules", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--backtest-devices", type=int, default=1000)
    p.add_argument("--days", type=int, default=30)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"command: python -m bench.rules_overhead {shlex.join(argv)}".rstrip(), flush=True)
    if args.mode in ("all", "drain"):
        await drain(args.messages, args.devices, args.processes, args.rules, args.rounds)
    if args.mode in ("all", "backtest"):
        await backtest_bench(args.backtest_devices, args.days)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
