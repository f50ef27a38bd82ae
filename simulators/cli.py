"""``citygate simulate city|load``: the command-line face of the simulators.

``citygate/cli.py`` calls ``add_parser(subparsers)`` to add the ``simulate`` command and
``await main(args)`` to run it. ``--mqtt-url`` and the topic prefixes default to None,
which means the service defaults; the caller may fill them from its Settings first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.live import Live

from device_profiles import ProfileError, ProfileRegistry
from device_profiles.topics import TopicScheme

from .city import run_city
from .errors import SimulatorError
from .faults import FAULT_KINDS, REPLACING, FaultConfig
from .fleet import build_fleet
from .load import run_load
from .stats import Stats

__all__ = ["add_parser", "main"]

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``simulate`` with its ``city`` and ``load`` actions (dest ``simulate_command``)."""
    sim = subparsers.add_parser("simulate", help="publish simulated device traffic over MQTT")
    sub = sim.add_subparsers(dest="simulate_command", required=True, metavar="ACTION")

    city = sub.add_parser("city", help="a realistic city fleet, optionally with faults")
    _common(city)
    city.add_argument("--devices", type=int, default=500, help="fleet size (default 500)")
    city.add_argument("--speed", type=float, default=1.0,
                      help="time compression: 60 runs an hour of device time a minute")  # fmt: skip
    city.add_argument("--duration", type=float, default=0,
                      help="wall-clock seconds to run; 0 runs until Ctrl-C")  # fmt: skip
    city.add_argument("--fault-rate", type=float, default=0.0,
                      help="rate of every fault kind (per message; at most 1/7)")  # fmt: skip
    city.add_argument("--fault", action="append", default=[], metavar="KIND=RATE",
                      help=f"rate of one fault kind ({', '.join(FAULT_KINDS)})")  # fmt: skip
    city.add_argument("--connections", type=int, default=2, help="shared MQTT connections")
    city.add_argument("--will-sample", type=int, default=4,
                      help="native devices with their own connection and last will")  # fmt: skip
    city.add_argument("--write-fleet", type=Path, metavar="FILE",
                      help="write the fleet to a .csv/.json file for 'devices import'")  # fmt: skip
    city.add_argument("--write-only", action="store_true",
                      help="with --write-fleet: write the file and exit")  # fmt: skip
    city.add_argument("--profiles-dir", type=Path, action="append", default=[],
                      help="extra profile directory (as the gateway's)")  # fmt: skip

    load = sub.add_parser("load", help="a steady stream of sequence-numbered JSON messages")
    _common(load)
    load.add_argument("--devices", type=int, default=100, help="distinct device ids")
    load.add_argument("--rate", type=float, default=1000.0,
                      help="messages per second in total; 0 = as fast as possible")  # fmt: skip
    what = load.add_mutually_exclusive_group(required=True)
    what.add_argument("--count", type=int, help="messages to send")
    what.add_argument("--duration", type=float, help="seconds to run")
    load.add_argument("--qos", type=int, choices=(0, 1), default=1)
    load.add_argument("--processes", type=int, default=1, help="publisher processes")
    load.add_argument("--profile", default="air_quality", help="profile of the values")
    load.add_argument("--fault-rate", type=float, default=0.0,
                      help="rate of skipped sequence numbers and of duplicates")  # fmt: skip
    return sim


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=1, help="same seed, same fleet and values")
    p.add_argument("--mqtt-url", help=f"broker (default {DEFAULT_MQTT_URL})")
    p.add_argument("--topic-prefix", help="native device topic prefix (default devices)")
    p.add_argument("--ttn-prefix", help="The Things Stack topic prefix (default v3)")
    p.add_argument("--chirpstack-prefix", help="ChirpStack topic prefix (default application)")


def broker_address(url: str | None) -> tuple[str, int]:
    """Host and port of an ``mqtt://host:port`` URL."""
    parts = urlsplit(url or DEFAULT_MQTT_URL)
    if parts.scheme not in ("mqtt", "tcp"):
        raise SimulatorError(f"MQTT URL must start with mqtt:// (got {url!r})")
    return parts.hostname or "127.0.0.1", parts.port or 1883


def topic_scheme(args: argparse.Namespace) -> TopicScheme:
    """The topic scheme the command line asks for."""
    d = TopicScheme()
    return TopicScheme(
        prefix=getattr(args, "topic_prefix", None) or d.prefix,
        ttn_prefix=getattr(args, "ttn_prefix", None) or d.ttn_prefix,
        chirpstack_prefix=getattr(args, "chirpstack_prefix", None) or d.chirpstack_prefix,
    )


def fault_config(rate: float, specific: list[str]) -> FaultConfig:
    """``--fault-rate`` for every kind (capped so the replacing kinds fit), then ``--fault``."""
    rates = dict.fromkeys(FAULT_KINDS, rate)
    if rate * len(REPLACING) > 1.0:
        raise SimulatorError(f"--fault-rate {rate:g} too high: at most {1 / len(REPLACING):.3f}")
    for item in specific:
        kind, _, value = item.partition("=")
        if kind not in rates:
            raise SimulatorError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        try:
            rates[kind] = float(value)
        except ValueError:
            raise SimulatorError(f"--fault {item!r}: rate must be a number") from None
    try:
        return FaultConfig().with_rates(rates)
    except ValueError as exc:
        raise SimulatorError(str(exc)) from None


@contextlib.contextmanager
def _live() -> Iterator[Live | None]:
    """A rich live display on a terminal; nothing otherwise."""
    if not sys.stdout.isatty():
        yield None
        return
    with Live(console=Console(), refresh_per_second=4, transient=True) as live:
        yield live


async def main(args: argparse.Namespace) -> int:
    """Run ``simulate city`` or ``simulate load``; returns the exit status."""
    try:
        if args.simulate_command == "city":
            return await _city(args)
        return await _load(args)
    except (SimulatorError, ProfileError, ValueError) as exc:
        print(f"citygate simulate: {exc}", file=sys.stderr)
        return 1


async def _show(live: Live, stats: Stats, work: asyncio.Task[Stats]) -> None:
    while not work.done():
        live.update(stats.summary())
        await asyncio.sleep(0.5)


async def _city(args: argparse.Namespace) -> int:
    profiles = ProfileRegistry.load(args.profiles_dir)
    fleet = build_fleet(profiles, args.devices, args.seed)
    if args.write_fleet is not None:
        fleet.write(args.write_fleet)
        counts = ", ".join(f"{n} {p}" for p, n in fleet.counts().items())
        print(f"wrote {len(fleet)} devices to {args.write_fleet} ({counts})")
        if args.write_only:
            return 0
    host, port = broker_address(args.mqtt_url)
    faults = fault_config(args.fault_rate, args.fault)
    stats = Stats()
    with _live() as live:
        async with asyncio.TaskGroup() as tg:
            work = tg.create_task(
                run_city(fleet, host=host, port=port, scheme=topic_scheme(args),
                         speed=args.speed, duration=args.duration or None, faults=faults,
                         seed=args.seed, stats=stats, connections=args.connections,
                         will_sample=args.will_sample),
                name="simulate-city",
            )  # fmt: skip
            if live is not None:
                tg.create_task(_show(live, stats, work), name="simulate-progress")
    print(stats.summary())
    return 0


async def _load(args: argparse.Namespace) -> int:
    host, port = broker_address(args.mqtt_url)
    if not 0.0 <= args.fault_rate <= 1.0:
        raise SimulatorError("--fault-rate must be between 0 and 1")
    with _live() as live:

        def progress(sent: int, elapsed: float) -> None:
            if live is not None:
                live.update(f"sent {sent} messages, {sent / max(elapsed, 1e-9):.0f} msg/s")

        result = await run_load(
            args.devices, args.rate or None, duration=args.duration, count=args.count,
            qos=args.qos, processes=args.processes, host=host, port=port,
            scheme=topic_scheme(args), profile=args.profile, seed=args.seed,
            gap_rate=args.fault_rate, duplicate_rate=args.fault_rate, progress=progress,
        )  # fmt: skip
    print(result.summary())
    return 0
