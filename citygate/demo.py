"""``make demo``: a simulated city end to end on this machine.

Devices (simulated, with faults at a low rate) -> Mosquitto -> gateway -> TimescaleDB
-> rules (the example rules in ``rules/examples``: alarms, Open311 service requests,
device commands) -> the HTTP API, with the maintenance job running, and a summary
printed every few seconds: readings stored, refusals by reason, devices online, alarms
and open service requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from gateway.service import Gateway
from ingest.db import connection
from ingest.devices import upsert_devices
from rules.actions.service_types import NotFound, ServiceTypeIn, get_service_type, save_service_type
from rules.definition.files import EXAMPLES_DIR as EXAMPLE_RULES
from rules.definition.files import load_rule_dir
from rules.store import get_rule, save_rule
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
SERVICE_TYPES = [
    ServiceTypeIn(service_code="waste-full", service_name="Waste container full",
                  description="A waste container needs emptying.", group="sanitation",
                  keywords=["waste", "bin"]),
    ServiceTypeIn(service_code="fire-hazard", service_name="Fire in a waste container",
                  description="A waste container is burning.", group="safety",
                  keywords=["fire"]),
    ServiceTypeIn(service_code="streetlight-fault", service_name="Streetlight fault",
                  description="A streetlight is out, or on in daylight.", group="lighting",
                  keywords=["light"]),
    ServiceTypeIn(service_code="flooding", service_name="Flood risk",
                  description="A river or drain is rising fast.", group="water",
                  keywords=["water", "flood"]),
]  # fmt: skip


async def _install_examples(conn: asyncpg.Connection, settings: Settings) -> int:
    """The demo's service types and example rules; ones an operator changed are kept."""
    for st in SERVICE_TYPES:
        try:
            await get_service_type(conn, st.service_code)
        except NotFound:
            await save_service_type(conn, st, create=True)
    rules = load_rule_dir(EXAMPLE_RULES, load_profiles(settings))
    for rule in rules:
        if await get_rule(conn, rule.name) is None:
            # source "demo": `citygate rules apply --prune` (which prunes "file" rules)
            # leaves them alone.
            await save_rule(conn, rule, source="demo")
    return len(rules)


async def run_demo(settings: Settings, devices: int, speed: float, duration: float) -> int:
    """Register a seeded fleet, run the service and the city; Ctrl-C stops both."""
    profiles = load_profiles(settings)
    fleet = build_fleet(profiles, devices, seed=1)
    async with connection(settings.database_url) as conn:
        await upsert_devices(conn, fleet.records())
        n_rules = await _install_examples(conn, settings)
    counts = ", ".join(f"{n} {p}" for p, n in fleet.counts().items())
    print(f"demo city: {len(fleet)} devices ({counts}); {n_rules} rules from {EXAMPLE_RULES}")
    gw = Gateway(gateway_config(settings, client_id=f"{settings.mqtt_client_id}-demo"), profiles)
    stop = asyncio.Event()
    stats = Stats()
    base = f"http://{settings.api_host}:{settings.api_port}"
    try:
        async with asyncio.TaskGroup() as tg:
            service = tg.create_task(run_service(settings, gw), name="service")
            await gw.ready.wait()
            print(f"service up at {base}:")
            for path, what in (
                ("/docs", "the API, interactive (OpenAPI)"),
                ("/api/v1/latest", "latest values of every device"),
                ("/api/v1/devices.geojson", "the devices on a map (GeoJSON)"),
                ("/v1.1", "OGC SensorThings API"),
                ("/open311/v2/requests.json", "service requests the rules opened (Open311)"),
                ("/metrics", "Prometheus metrics"),
            ):
                print(f"  {base}{path:<28} {what}")
            print(
                "operator endpoints (alarms, rules) need a key: citygate keys create "
                "--name me --role operator"
            )
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
                alarms = await conn.fetchval("SELECT count(*) FROM alarms WHERE active")
                requests = await conn.fetchval(
                    "SELECT count(*) FROM service_requests WHERE status = 'open'"
                )
                why = ", ".join(f"{r['reason_code']} {r['n']}" for r in refused) or "none"
                print(
                    f"sent {stats.sent:>7} | stored {stored:>8} readings | "
                    f"online {online:>4} | alarms {alarms:>3} | open requests {requests:>3} | "
                    f"quarantined: {why}",
                    flush=True,
                )
