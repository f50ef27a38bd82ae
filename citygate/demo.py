"""``make demo``: a simulated city end to end on this machine.

Devices (simulated, with faults at a low rate) -> Mosquitto -> gateway -> TimescaleDB,
with the maintenance job and the HTTP API running, and a summary printed every few
seconds: readings stored, refusals by reason, devices online.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from gateway.service import Gateway
from ingest.db import connection
from ingest.devices import upsert_devices
from simulators.city import run_city
from simulators.faults import FaultConfig
from simulators.fleet import build_fleet
from simulators.stats import Stats

from .commands import run_service
from .settings import Settings
from .wiring import gateway_config, load_profiles, topic_scheme

log = logging.getLogger(__name__)

__all__ = ["run_demo"]

DEMO_FAULT_RATE = 0.01


async def run_demo(settings: Settings, devices: int, speed: float, duration: float) -> int:
    """Register a seeded fleet, run the service and the city; Ctrl-C stops both."""
    profiles = load_profiles(settings)
    fleet = build_fleet(profiles, devices, seed=1)
    async with connection(settings.database_url) as conn:
        await upsert_devices(conn, fleet.records())
    counts = ", ".join(f"{n} {p}" for p, n in fleet.counts().items())
    print(f"demo city: {len(fleet)} devices ({counts})")
    gw = Gateway(gateway_config(settings, client_id=f"{settings.mqtt_client_id}-demo"), profiles)
    stop = asyncio.Event()
    stats = Stats()
    base = f"http://{settings.api_host}:{settings.api_port}"
    try:
        async with asyncio.TaskGroup() as tg:
            service = tg.create_task(run_service(settings, gw), name="service")
            await gw.ready.wait()
            print(f"service up: open {base}/readyz and {base}/metrics")
            print("the devices publish now; Ctrl-C stops the demo\n")
            city = tg.create_task(
                run_city(
                    fleet,
                    host=settings.mqtt_host,
                    port=settings.mqtt_port,
                    scheme=topic_scheme(settings),
                    speed=speed,
                    duration=duration or None,
                    faults=FaultConfig.uniform(DEMO_FAULT_RATE / 7),
                    stats=stats,
                    stop=stop,
                ),
                name="city",
            )
            reporter = tg.create_task(_report(settings.database_url, stats), name="report")
            await city
            reporter.cancel()
            gw.stop()
            await service
    except* asyncio.CancelledError:
        pass
    print(f"\nsimulator: {stats.summary()}")
    return 0


async def _report(url: str, stats: Stats, every: float = 5.0) -> None:
    async with connection(url) as conn:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                stored = await conn.fetchval(
                    "SELECT coalesce(sum(cardinality(metric_ids)), 0) FROM readings"
                )
                refused = await conn.fetch(
                    "SELECT reason_code, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY 2 DESC"
                )
                online = await conn.fetchval("SELECT count(*) FROM devices WHERE status='online'")
                why = ", ".join(f"{r['reason_code']} {r['n']}" for r in refused) or "none"
                print(
                    f"sent {stats.sent:>7} | stored {stored:>8} readings | "
                    f"online {online:>4} | quarantined: {why}",
                    flush=True,
                )
