"""Run a simulated city against an MQTT broker: every device reports at its own interval.

Time is compressed by ``speed``: a device that reports every 60 s publishes every second
of wall time at ``speed=60``. Readings follow the simulated clock (so daily cycles show
up at high speed); timestamps are wall-clock time, which a gateway accepts.

Connections: thousands of devices with one MQTT connection each would measure the
simulator's socket handling, not the gateway, so devices share ``connections`` client
connections (each device always uses the same one, keeping its messages in order). MQTT
has one last will per connection, so those devices have no last will; instead
``will_sample`` native devices get a connection of their own whose last will is
``offline`` on their status topic (the broker publishes it if the simulator dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
import uuid

from device_profiles.topics import TopicScheme

from ._rand import hash_keys
from .faults import FaultConfig
from .fleet import Fleet, SimDevice
from .publisher import Publisher
from .simulation import CitySimulation
from .stats import Stats

__all__ = ["run_city", "will_devices"]

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 10.0
_YIELD_EVERY = 200  # messages published between two yields to the event loop when behind


def will_devices(fleet: Fleet, n: int, seed: int) -> list[SimDevice]:
    """The ``n`` native devices that get their own connection with a last will."""
    native = [d for d in fleet.devices if not d.lorawan]
    native.sort(key=lambda d: hash_keys(seed, d.key, 0x3111))
    return native[: max(0, n)]


async def _sleep_unless(stop: asyncio.Event, delay: float) -> None:
    if delay > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()


async def run_city(
    fleet: Fleet,
    *,
    host: str = "127.0.0.1",
    port: int = 1883,
    scheme: TopicScheme | None = None,
    speed: float = 1.0,
    duration: float | None = None,
    faults: FaultConfig | None = None,
    seed: int | None = None,
    stats: Stats | None = None,
    stop: asyncio.Event | None = None,
    connections: int = 2,
    will_sample: int = 0,
    qos: int = 1,
    sim_start: float | None = None,
    client_prefix: str = "citygate-sim",
) -> Stats:
    """Publish the fleet's readings until ``duration`` wall seconds pass, ``stop`` is set
    or the task is cancelled; returns ``stats`` (counts so far, also on cancellation)."""
    if not speed > 0 or not math.isfinite(speed):
        raise ValueError("speed must be a positive number")
    stats = stats if stats is not None else Stats()
    stop = stop if stop is not None else asyncio.Event()
    seed = fleet.seed if seed is None else seed
    sim = CitySimulation(fleet, scheme or TopicScheme(), faults, seed)
    token = uuid.uuid4().hex[:8]
    own = {d.index for d in will_devices(fleet, will_sample, seed)}
    loop = asyncio.get_running_loop()
    log.info(
        "simulating %d devices at %gx over %d connections (+%d with last will) on %s:%d",
        len(fleet), speed, connections, len(own), host, port,
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        shared = []
        for i in range(max(1, connections)):
            pub = Publisher(host, port, f"{client_prefix}-{token}-{i}")
            shared.append(await stack.enter_async_context(pub))
        route: dict[int, Publisher] = {}
        for d in fleet.devices:
            if d.index in own:
                will = (sim.encoder.status_topic(d), b"offline")
                pub = Publisher(host, port, f"{client_prefix}-{token}-{d.id}", will=will)
                route[d.index] = await stack.enter_async_context(pub)
            else:
                route[d.index] = shared[d.index % len(shared)]
        t0 = loop.time()
        wall0 = time.time()
        sim0 = wall0 if sim_start is None else sim_start
        end = math.inf if not duration else t0 + duration
        heap = [(t0 + d.phase_s / speed, d.index) for d in fleet.devices]
        heapq.heapify(heap)
        published = 0
        try:
            while heap and not stop.is_set():
                due, index = heap[0]
                now = loop.time()
                if now >= end:
                    break
                if due > now:
                    await _sleep_unless(stop, min(due, end) - now)
                    continue
                device = fleet.devices[index]
                heapq.heapreplace(heap, (due + device.interval_s / speed, index))
                pub = route[index]
                sim_t = sim0 + (due - t0) * speed
                for msg in sim.tick(device, sim_t, wall0 + (now - t0)):
                    if pub.outstanding >= pub.max_outstanding:
                        await pub.wait_room_async()
                    if pub.publish(msg.topic, msg.payload, qos):
                        stats.record(msg.fmt, msg.fault)
                    else:
                        stats.failed += 1
                    published += 1
                if published >= _YIELD_EVERY:
                    published = 0
                    await asyncio.sleep(0)
            for pub in {id(p): p for p in route.values()}.values():
                if not await pub.drain_async(DRAIN_TIMEOUT):
                    log.warning("%s: %d messages unacknowledged", pub.client_id, pub.outstanding)
        finally:
            stats.finish()
    log.info("city simulation done: %s", stats.summary().replace("\n", ";"))
    return stats
