"""Load mode against a private Mosquitto: exactly what was sent arrives, gaps are found."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict

import orjson
import pytest

from device_profiles.topics import TopicScheme
from simulators import find_gaps, run_load
from tests.support.broker import private_broker

from .helpers import REGISTRY, Collector, subscribed


def received_seqs(collector: Collector) -> tuple[dict[str, list[int]], list[tuple[str, int]]]:
    by_device: dict[str, list[int]] = defaultdict(list)
    pairs = []
    for topic, payload in collector.messages:
        doc = orjson.loads(payload)
        assert topic.split("/")[-3] == doc["id"]
        assert set(doc["values"]) == set(REGISTRY.get("air_quality").metrics)
        by_device[doc["id"]].append(doc["seq"])
        pairs.append((doc["id"], doc["seq"]))
    return by_device, pairs


def paho_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("paho")]


def test_find_gaps() -> None:
    assert find_gaps({"a": [1, 2, 3], "b": [2]}, {"a": 3, "b": 3, "c": 0}) == {"b": [1, 3]}
    assert find_gaps({"a": iter([3, 1, 1])}, {"a": 4}) == {"a": [2, 4]}
    assert find_gaps({}, {"a": 2}) == {"a": [1, 2]}


async def test_every_message_arrives_exactly_and_a_dropped_one_is_found() -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    scheme = TopicScheme(prefix=prefix)
    progress: list[int] = []
    with private_broker() as broker, subscribed(broker.port, f"{prefix}/#") as inbox:
        result = await run_load(
            40, 2500.0, count=2000, qos=1, port=broker.port, scheme=scheme,
            profiles=REGISTRY, progress=lambda sent, elapsed: progress.append(sent),
        )  # fmt: skip
        assert result.sent == result.published == 2000 and result.unacked == 0
        inbox.wait_for(2000)
        assert inbox.settle() == 2000
    by_device, pairs = received_seqs(inbox)
    assert len(pairs) == 2000 and set(pairs) == result.expected()
    assert sum(result.per_device.values()) == 2000 and len(result.per_device) == 40
    assert find_gaps(by_device, result.per_device) == {}
    # Lose one message on the way: the checker names it.
    by_device["load-00007"].remove(13)
    assert find_gaps(by_device, result.per_device) == {"load-00007": [13]}
    assert "2000 messages" in result.summary()
    assert progress and progress[-1] <= 2000
    assert not paho_threads()


async def test_injected_gaps_and_duplicates_are_reported() -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with private_broker() as broker, subscribed(broker.port, f"{prefix}/#") as inbox:
        result = await run_load(
            10, None, count=1500, qos=1, port=broker.port, scheme=TopicScheme(prefix=prefix),
            profiles=REGISTRY, gap_rate=0.01, duplicate_rate=0.01, seed=3,
        )  # fmt: skip
        inbox.wait_for(result.published)
        assert inbox.settle() == result.published
    by_device, pairs = received_seqs(inbox)
    assert result.skipped and result.duplicates
    assert len(pairs) == 1500 + result.duplicates
    assert set(pairs) == result.expected()
    assert find_gaps(by_device, result.per_device) == {
        d: list(s) for d, s in result.skipped.items()
    }
    assert result.stats.by_fault["gap"] == sum(len(s) for s in result.skipped.values())


async def test_two_processes_qos0() -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with private_broker() as broker, subscribed(broker.port, f"{prefix}/#") as inbox:
        result = await run_load(
            9, 3000.0, count=1001, qos=0, processes=2, port=broker.port,
            scheme=TopicScheme(prefix=prefix), profiles=REGISTRY,
        )  # fmt: skip
        inbox.wait_for(1001)
        inbox.settle()
    _, pairs = received_seqs(inbox)
    # QoS 0 on loopback to an idle broker: nothing is lost in practice.
    assert set(pairs) == result.expected() and len(pairs) == 1001
    assert {d for d, _ in pairs} == {f"load-{k:05d}" for k in range(1, 10)}


async def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        await run_load(10, 100.0, profiles=REGISTRY)  # neither count nor duration
    with pytest.raises(ValueError):
        await run_load(10, 100.0, count=5, fmt="senml", profiles=REGISTRY)
