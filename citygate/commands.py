"""What each ``citygate`` subcommand does: small functions over the domain packages."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

from api.context import ApiContext, MetricCatalogue
from api.service import ApiService
from gateway.service import Gateway
from ingest import devices as registry
from ingest.db import connection, create_database, describe_url, open_pool
from ingest.maintenance import Maintenance, detect_edition
from ingest.migrations import available_migrations, current_version, upgrade
from ingest.queries import api_keys
from rules.actions.dispatch import RuleActions
from rules.actions.outbox import OutboxSender
from rules.engine import RulesEngine

from . import rule_commands
from .settings import Settings
from .wiring import (
    api_config,
    engine_config,
    gateway_config,
    load_profiles,
    outbox_commands,
    outbox_config,
    retention_policy,
)

log = logging.getLogger(__name__)

__all__ = ["lookup"]

Command = Callable[[Settings, argparse.Namespace], Awaitable[int]]


def lookup(args: argparse.Namespace) -> Command:
    """The coroutine function for the parsed command line."""
    name = args.command
    for attr in ("db_command", "devices_command", "keys_command", "rules_command"):
        if getattr(args, attr, None):
            name = f"{name}_{getattr(args, attr)}"
    return _COMMANDS[name]


async def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    """Create the database if needed and apply pending migrations."""
    if not getattr(args, "no_create", False) and await create_database(settings.database_url):
        print(f"created database {describe_url(settings.database_url)}")
    applied = await upgrade(settings.database_url)
    latest = available_migrations()[-1].version
    if applied:
        print(
            f"applied migrations {', '.join(f'{v:04d}' for v in applied)}; schema at {latest:04d}"
        )
    else:
        print(f"schema is up to date at {latest:04d}")
    return 0


async def db_status(settings: Settings, args: argparse.Namespace) -> int:
    """Print the schema version and the TimescaleDB edition."""
    async with connection(settings.database_url) as conn:
        version = await current_version(conn)
        edition = await detect_edition(conn) if version else None
    latest = available_migrations()[-1].version
    print(f"database: {describe_url(settings.database_url)}")
    print(f"schema: {version:04d} (latest {latest:04d})")
    if edition:
        jobs = "TimescaleDB policies" if edition.has_policies else "citygate's own job"
        print(f"timescaledb: {edition.version}, {edition.license} edition; retention by {jobs}")
    return 0 if version == latest else 1


async def db_maintain(settings: Settings, args: argparse.Namespace) -> int:
    """Run rollups and retention once."""
    async with open_pool(settings.database_url, max_size=1) as pool:
        m = Maintenance(pool, retention_policy(settings), lookback=_lookback(settings))
        await m.setup()
        print(await m.run_once())
    return 0


def _lookback(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.rollup_lookback_s)


async def maintenance_loop(settings: Settings) -> None:
    """The service's own scheduled job: rollups and retention every interval."""
    async with open_pool(settings.database_url, max_size=1) as pool:
        m = Maintenance(pool, retention_policy(settings), lookback=_lookback(settings))
        await m.setup()
        while True:
            try:
                stats = await m.run_once()
                log.debug("maintenance: %s", stats)
            except Exception:
                log.exception(
                    "maintenance pass failed; next pass in %.0fs", settings.maintenance_interval_s
                )
            await asyncio.sleep(settings.maintenance_interval_s)


async def run_gateway(settings: Settings, args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM/SIGINT, then shut down in order."""
    if getattr(args, "workers", 1) > 1:
        from .workers import run_workers

        return await run_workers(settings, args.workers)
    gw = Gateway(gateway_config(settings), load_profiles(settings))
    _stop_on_signals(gw.stop)
    freeze_startup_objects()
    await gw.run()
    return 0


async def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, then run the gateway, the rules engine, the outbox sender, the maintenance
    job and the HTTP API in one task group until SIGTERM/SIGINT."""
    await db_upgrade(settings, args)
    gw = Gateway(gateway_config(settings), load_profiles(settings))
    _stop_on_signals(gw.stop)
    await run_service(settings, gw)
    return 0


async def run_service(settings: Settings, gw: Gateway) -> None:
    """The long-lived parts of a citygate process; returns once the gateway has stopped."""
    profiles = gw.profiles
    async with open_pool(settings.database_url, max_size=settings.db_pool_size) as pool:
        async with pool.acquire() as conn:
            catalogue = await registry.ensure_metrics(
                conn, {m for p in profiles for m in p.metrics}
            )
        ctx = ApiContext(
            pool=pool,
            profiles=profiles,
            metrics=MetricCatalogue.of(catalogue),
            config=api_config(settings),
            feed=gw.feed,
            prometheus=gw.prometheus,
            broker_connected=lambda: gw.session is not None and gw.session.connected.is_set(),
            alarm_actions=RuleActions(),
            webhook_policy=outbox_config(settings).policy,
        )
        api = ApiService(ctx, settings.api_host, settings.api_port)
        freeze_startup_objects()
        engine = (
            RulesEngine(
                pool, profiles, gw.feed, engine_config(settings), gw.prometheus, RuleActions()
            )
            if settings.rules_enabled
            else None
        )
        # The outbox has a small pool of its own: a burst of deliveries finishing at once
        # does not queue behind API requests for a connection, nor they behind it.
        async with (
            open_pool(settings.database_url, max_size=2) as outbox_pool,
            outbox_commands(settings) as commands,
            asyncio.TaskGroup() as tg,
        ):
            sender = OutboxSender(outbox_pool, outbox_config(settings), gw.prometheus, commands)
            maint = tg.create_task(maintenance_loop(settings), name="maintenance")
            outbox = tg.create_task(sender.run(), name="outbox-sender")
            rules = tg.create_task(engine.run(), name="rules-engine") if engine else None
            http = tg.create_task(api.run(), name="http-api")
            await tg.create_task(gw.run(), name="gateway")
            api.stop()
            maint.cancel()
            outbox.cancel()
            if rules is not None:
                rules.cancel()
            await http


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, the app, profiles) out of the collector's sight:
    a full collection then walks only what requests allocate. Measured on the API
    benchmark: full collections of 30-80 ms under load gone (docs/performance.md)."""
    gc.collect()
    gc.freeze()


def _stop_on_signals(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def devices_import(settings: Settings, args: argparse.Namespace) -> int:
    """Bulk import devices."""
    # The whole file is checked before anything touches the database.
    records = registry.check_device_file(args.file, load_profiles(settings).names())
    async with connection(settings.database_url) as conn:
        n = await registry.upsert_devices(conn, records)
    print(f"imported {n} devices from {args.file}")
    return 0


async def devices_list(settings: Settings, args: argparse.Namespace) -> int:
    """List devices."""
    async with connection(settings.database_url) as conn:
        rows = await conn.fetch(
            "SELECT id, profile, district, enabled, status, last_seen FROM devices ORDER BY id"
        )
    for r in rows:
        flag = "" if r["enabled"] else " (disabled)"
        print(
            f"{r['id']:<24} {r['profile']:<18} {r['district'] or '-':<16} {r['status']:<8} "
            f"{r['last_seen'] or '-'}{flag}"
        )
    print(f"{len(rows)} devices")
    return 0


async def devices_disable(settings: Settings, args: argparse.Namespace) -> int:
    """Disable one device (its messages are then quarantined)."""
    return await _set_enabled(settings, args.device_id, enabled=False)


async def devices_enable(settings: Settings, args: argparse.Namespace) -> int:
    """Enable one device again."""
    return await _set_enabled(settings, args.device_id, enabled=True)


async def _set_enabled(settings: Settings, device_id: str, *, enabled: bool) -> int:
    async with connection(settings.database_url) as conn:
        await registry.disable_device(conn, device_id, enabled=enabled)
    print(f"{'enabled' if enabled else 'disabled'} {device_id}")
    return 0


async def keys_create(settings: Settings, args: argparse.Namespace) -> int:
    """Create an API key and print it (it is shown this once)."""
    async with connection(settings.database_url) as conn:
        key, text = await api_keys.create_key(conn, args.name, args.role, args.district or None)
    scope = ", ".join(key.districts) if key.districts else "all districts"
    print(f"created {key.role} key {key.prefix} for {key.name!r} ({scope})")
    print(text)
    print("keep it now: it is stored hashed and cannot be shown again")
    return 0


async def keys_list(settings: Settings, args: argparse.Namespace) -> int:
    """List API keys (prefixes, never secrets)."""
    async with connection(settings.database_url) as conn:
        keys = await api_keys.list_keys(conn)
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        scope = ",".join(k.districts) if k.districts else "*"
        print(f"{k.prefix}  {k.role:<8} {state:<18} {scope:<20} {k.name}")
    print(f"{len(keys)} keys")
    return 0


async def keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Revoke an API key by its prefix."""
    async with connection(settings.database_url) as conn:
        key = await api_keys.revoke_key(conn, args.prefix)
    print(f"revoked key {key.prefix} ({key.name})")
    return 0


async def quarantine(settings: Settings, args: argparse.Namespace) -> int:
    """Show the newest quarantined messages with their reasons."""
    async with connection(settings.database_url) as conn:
        rows = await conn.fetch(
            "SELECT received_at, topic, device_id, reason_code, reason, payload FROM quarantine "
            "WHERE ($1::text IS NULL OR reason_code = $1) AND ($2::text IS NULL OR device_id = $2) "
            "ORDER BY received_at DESC LIMIT $3",
            args.reason,
            args.device,
            max(1, min(args.limit, 1000)),
        )
        counts = await conn.fetch(
            "SELECT reason_code, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY 2 DESC"
        )
    for r in rows:
        payload = bytes(r["payload"][:80])
        print(f"{r['received_at']:%Y-%m-%d %H:%M:%S} {r['reason_code']:<16} {r['topic']}")
        print(f"    {r['reason']}")
        print(f"    payload: {payload!r}")
    print("totals: " + (", ".join(f"{c['reason_code']}={c['n']}" for c in counts) or "none"))
    return 0


async def simulate(settings: Settings, args: argparse.Namespace) -> int:
    """``citygate simulate city|load`` with the broker and topics from the settings."""
    from simulators import cli as sim_cli

    if args.mqtt_url is None:
        args.mqtt_url = settings.mqtt_url
    for attr, value in (
        ("topic_prefix", settings.topic_prefix),
        ("ttn_prefix", settings.ttn_topic_prefix),
        ("chirpstack_prefix", settings.chirpstack_topic_prefix),
    ):
        if getattr(args, attr, None) is None:
            setattr(args, attr, value)
    return await sim_cli.main(args)


async def demo(settings: Settings, args: argparse.Namespace) -> int:
    """Set up the database and run the demo city end to end."""
    from .demo import run_demo

    await db_upgrade(settings, args)
    return await run_demo(settings, args.devices, args.speed, args.duration)


async def profiles(settings: Settings, args: argparse.Namespace) -> int:
    """List the device profiles."""
    for p in load_profiles(settings):
        metrics = ", ".join(p.metrics)
        print(f"{p.name:<18} every {p.reporting_interval_s:>5}s  {metrics}")
    return 0


_COMMANDS: dict[str, Command] = {
    "db_upgrade": db_upgrade,
    "db_status": db_status,
    "db_maintain": db_maintain,
    "gateway": run_gateway,
    "serve": serve,
    "devices_import": devices_import,
    "devices_list": devices_list,
    "devices_disable": devices_disable,
    "devices_enable": devices_enable,
    "keys_create": keys_create,
    "keys_list": keys_list,
    "keys_revoke": keys_revoke,
    "quarantine": quarantine,
    "profiles": profiles,
    "simulate": simulate,
    "rules_apply": rule_commands.rules_apply,
    "rules_export": rule_commands.rules_export,
    "rules_list": rule_commands.rules_list,
    "rules_backtest": rule_commands.rules_backtest,
    "demo": demo,
}
