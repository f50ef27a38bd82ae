"""A simulated city against a private Mosquitto: what is published is what was counted,
and every telemetry message is one the gateway can route and decode."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter

import pytest

from device_profiles import decode
from device_profiles.topics import TopicScheme
from simulators import FaultConfig, SimulatorError, Stats, build_fleet, run_city
from simulators.city import will_devices
from tests.support.broker import free_port, private_broker

from .helpers import REGISTRY, subscribed

FLEET = build_fleet(REGISTRY, 60, seed=9)


def scheme() -> TopicScheme:
    tag = uuid.uuid4().hex[:8]
    return TopicScheme(prefix=f"d{tag}", ttn_prefix=f"v{tag}", chirpstack_prefix=f"a{tag}")


def paho_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("paho")]


async def test_city_publishes_decodable_messages() -> None:
    s = scheme()
    by_eui = {d.dev_eui: d for d in FLEET if d.dev_eui}
    by_id = {d.id: d for d in FLEET}
    stats = Stats()
    with private_broker() as broker, subscribed(broker.port, "#") as inbox:
        await run_city(FLEET, port=broker.port, scheme=s, speed=900.0, duration=2.0,
                       stats=stats, connections=2, will_sample=2)  # fmt: skip
        inbox.wait_for(stats.sent)
        assert inbox.settle() == stats.sent
    assert stats.sent > len(FLEET) and stats.failed == 0
    formats: Counter[str] = Counter()
    for topic, payload in inbox.messages:
        route = s.parse(topic)
        device = by_eui[route.device_ref] if route.by_dev_eui else by_id[route.device_ref]
        if route.kind == "status":
            assert payload in (b"online", b"offline")
            formats["status"] += 1
            continue
        fmt = route.fmt or REGISTRY.get(device.profile).default_format
        decoded = decode(fmt, payload, REGISTRY.get(device.profile))
        assert decoded.errors == () and decoded.readings
        formats[fmt] += 1
    assert formats == stats.by_format
    assert set(formats) == {"json", "senml", "ttn", "chirpstack", "status"}
    assert {d.profile for d in FLEET} == set(REGISTRY.names())
    assert not paho_threads()


async def test_faults_are_counted_and_stop_ends_the_run() -> None:
    stop = asyncio.Event()
    faults = FaultConfig.uniform(0.05)
    with private_broker() as broker, subscribed(broker.port, "#") as inbox:
        run = run_city(FLEET, port=broker.port, scheme=scheme(), speed=3000.0, faults=faults,
                       seed=2, stop=stop)  # fmt: skip
        task = asyncio.create_task(run)
        await asyncio.sleep(1.5)
        stop.set()
        stats = await asyncio.wait_for(task, 15)
        inbox.wait_for(stats.sent)
        assert inbox.settle() == stats.sent
    assert stats.by_fault and sum(stats.by_fault.values()) < stats.sent
    assert "faults:" in stats.summary() and "by format" in stats.summary()
    assert not paho_threads()


async def test_cancellation_closes_the_connections() -> None:
    with private_broker() as broker:
        task = asyncio.create_task(run_city(FLEET, port=broker.port, scheme=scheme(),
                                            speed=100.0, will_sample=1))  # fmt: skip
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not paho_threads()


async def test_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(SimulatorError, match="cannot connect"):
        await run_city(FLEET, port=free_port(), duration=1.0)
    assert not paho_threads()


def test_will_sample_is_native_and_stable() -> None:
    chosen = will_devices(FLEET, 3, seed=1)
    assert len(chosen) == 3 and not any(d.lorawan for d in chosen)
    assert chosen == will_devices(FLEET, 3, seed=1)
