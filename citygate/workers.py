"""Several gateway processes on one machine: each a worker in an MQTT v5 shared
subscription group, with its own persistent session (client id ``{id}-{n}``).

One gateway process saturates one core (docs/performance.md); this uses the others. The
parent only starts, watches and stops its workers: SIGTERM/SIGINT is passed on, and each
worker shuts down in order (stop reading, commit, acknowledge, disconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import signal
from typing import Any

from gateway.service import Gateway

from .settings import Settings
from .wiring import gateway_config, load_profiles

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_GROUP", "run_workers", "worker_settings"]

DEFAULT_GROUP = "citygate"


def worker_settings(settings: Settings, index: int) -> Settings:
    """The settings of worker ``index``: its own client id, the shared group."""
    return settings.model_copy(
        update={
            "mqtt_client_id": f"{settings.mqtt_client_id}-{index}",
            "mqtt_shared_group": settings.mqtt_shared_group or DEFAULT_GROUP,
        }
    )


def _worker_main(values: dict[str, Any], index: int, level: str) -> None:
    logging.basicConfig(
        level=level, format=f"%(asctime)s %(levelname)s worker-{index} %(name)s: %(message)s"
    )
    settings = worker_settings(Settings.model_validate(values), index)

    async def main() -> None:
        gw = Gateway(gateway_config(settings), load_profiles(settings))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gw.stop)
        await gw.run()

    asyncio.run(main())


def start_workers(settings: Settings, count: int) -> list[mp.process.BaseProcess]:
    """Start ``count`` worker processes (spawned, so nothing is shared by accident)."""
    ctx = mp.get_context("spawn")
    values = settings.model_dump()
    procs: list[mp.process.BaseProcess] = [
        ctx.Process(
            target=_worker_main,
            args=(values, i, settings.log_level.upper()),
            name=f"citygate-gateway-{i}",
        )
        for i in range(1, count + 1)
    ]
    for p in procs:
        p.start()
    return procs


def stop_workers(procs: list[mp.process.BaseProcess], timeout: float = 30.0) -> None:
    """SIGTERM every worker, wait, then kill whatever is left."""
    for p in procs:
        if p.is_alive() and p.pid is not None:
            p.terminate()
    for p in procs:
        p.join(timeout)
        if p.is_alive():
            log.error("worker %s did not stop in %.0fs; killing it", p.name, timeout)
            p.kill()
            p.join()


async def run_workers(settings: Settings, count: int) -> int:
    """Run the workers until SIGTERM/SIGINT or until one of them dies."""
    procs = start_workers(settings, count)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("started %d gateway workers in shared group %r", count,
             settings.mqtt_shared_group or DEFAULT_GROUP)  # fmt: skip
    try:
        while not stop.is_set():
            dead = [p for p in procs if not p.is_alive()]
            if dead:
                log.error("gateway worker %s exited (code %s)", dead[0].name, dead[0].exitcode)
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return 0
    finally:
        await asyncio.to_thread(stop_workers, procs)
