"""The ``citygate`` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from device_profiles import ProfileError
from ingest.errors import IngestError
from rules.errors import RuleError
from simulators import cli as sim_cli

from . import rule_commands
from .settings import Settings, SettingsError, load_settings

__all__ = ["main"]

log = logging.getLogger("citygate")

Command = Callable[[Settings, argparse.Namespace], Awaitable[int]]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="citygate",
        description="Smart-city device gateway and telemetry service.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="database schema and maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="create the database if missing, apply migrations")
    up.add_argument("--no-create", action="store_true", help="fail if the database is missing")
    dbsub.add_parser("status", help="applied migration version and TimescaleDB edition")
    dbsub.add_parser("maintain", help="run rollups and retention once")

    gw = sub.add_parser("gateway", help="run the MQTT gateway (ingest only)")
    gw.add_argument(
        "--workers", type=int, default=1,
        help="gateway processes on a shared subscription (default 1)",
    )  # fmt: skip
    sub.add_parser("serve", help="run every long-lived part of the service in one process tree")

    dev = sub.add_parser("devices", help="the device registry")
    devsub = dev.add_subparsers(dest="devices_command", required=True, metavar="ACTION")
    imp = devsub.add_parser("import", help="create or update devices from a CSV or JSON file")
    imp.add_argument("file", type=Path)
    devsub.add_parser("list", help="list registered devices")
    dis = devsub.add_parser("disable", help="disable a device (its messages are quarantined)")
    dis.add_argument("device_id")
    ena = devsub.add_parser("enable", help="enable a device again")
    ena.add_argument("device_id")

    keys = sub.add_parser("keys", help="API keys for operators and apps")
    keysub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    kc = keysub.add_parser("create", help="create a key (printed once)")
    kc.add_argument("--name", required=True, help="who or what uses the key")
    kc.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    kc.add_argument("--district", action="append",
                    help="limit the key to this district (repeatable); default: all")  # fmt: skip
    keysub.add_parser("list", help="list keys (prefixes, roles, scopes)")
    kr = keysub.add_parser("revoke", help="revoke a key by its prefix")
    kr.add_argument("prefix")

    q = sub.add_parser("quarantine", help="browse refused messages")
    q.add_argument("--reason", help="only this reason code")
    q.add_argument("--device", help="only this device id")
    q.add_argument("--limit", type=int, default=20)

    sub.add_parser("profiles", help="list the device profiles (built-in and operator's)")
    rule_commands.add_parser(sub)
    sim_cli.add_parser(sub)
    demo = sub.add_parser("demo", help="set up and run a simulated city end to end")
    demo.add_argument("--devices", type=int, default=300, help="fleet size (default 300)")
    demo.add_argument("--speed", type=float, default=30.0,
                      help="time compression of the devices' reporting (default 30)")  # fmt: skip
    demo.add_argument("--duration", type=float, default=0,
                      help="seconds to run; 0 runs until Ctrl-C")  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``citygate`` command."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"citygate: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from . import commands

    handler: Command = commands.lookup(args)
    try:
        code = asyncio.run(_run_until_signal(handler(settings, args)))
    except (IngestError, ProfileError, RuleError, SettingsError) as exc:
        print(f"citygate: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


async def _run_until_signal(work: Awaitable[int]) -> int:
    """Run ``work``; SIGTERM/SIGINT cancel it, so it shuts down in order."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return 0
