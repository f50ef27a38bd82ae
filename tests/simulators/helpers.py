"""Test helpers: a shared profile registry and a paho subscriber that records messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_profiles import ProfileRegistry

REGISTRY = ProfileRegistry.load()
NOW = 1_764_070_000.0  # 2025-11-25T11:26:40Z


@dataclass
class Collector:
    """Messages received on the subscribed filter, in arrival order."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, n: int, timeout: float = 20.0) -> int:
        """Wait until ``n`` messages arrived (or the timeout); returns how many did."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.messages)

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> int:
        """Wait until nothing new arrives for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        seen = -1
        while seen != len(self.messages) and time.monotonic() < deadline:
            seen = len(self.messages)
            time.sleep(quiet)
        return len(self.messages)


@contextmanager
def subscribed(port: int, topic_filter: str) -> Iterator[Collector]:
    """A QoS 1 subscriber on a private broker, stopped (thread joined) on exit."""
    collector = Collector()
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{time.time_ns()}")

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        with collector.lock:
            collector.messages.append((msg.topic, bytes(msg.payload)))

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, codes: Any, props: Any) -> None:
        ready.set()

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe(topic_filter, qos=1)
        assert ready.wait(10), "subscription not acknowledged"
        yield collector
    finally:
        client.disconnect()
        client.loop_stop()
