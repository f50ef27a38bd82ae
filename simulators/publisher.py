"""A fast MQTT publisher: one paho-mqtt 2.x connection with its network loop in a thread.

paho's ``publish`` only queues the message; the network thread writes it and counts the
acknowledgement. The owner bounds what is outstanding (``wait_room``) so that a slow broker
slows the simulator down instead of growing paho's queue without limit. Usable from
blocking code (``with``, load-mode workers) and from asyncio (``async with``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .errors import SimulatorError

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

_POLL = 0.002


class Publisher:
    """One MQTT 3.1.1 connection that publishes (and never subscribes).

    ``max_inflight=0`` lets paho send every message at once (its in-flight window walks all
    queued messages on each acknowledgement, which costs more than it saves); the
    ``max_outstanding`` bound applied by ``wait_room`` is what limits memory instead.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        max_inflight: int = 0,
        max_outstanding: int = 10_000,
        keepalive: int = 30,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.max_outstanding = max_outstanding
        self.connect_timeout = connect_timeout
        self.published = 0  # handed to paho
        self.completed = 0  # acknowledged (QoS 1) or written (QoS 0); set by the loop thread
        self.failed = 0
        self._connected = threading.Event()
        self._refused: str | None = None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.max_inflight_messages_set(max_inflight)
        client.reconnect_delay_set(1, 30)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=False)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        self._keepalive = keepalive
        self._started = False

    # -- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(self, c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            log.warning("%s: broker refused the connection: %s", self.client_id, reason)
        else:
            self._connected.set()

    def _on_connect_fail(self, c: mqtt.Client, u: Any) -> None:
        self._refused = self._refused or "connection failed"

    def _on_disconnect(self, c: mqtt.Client, u: Any, f: Any, reason: Any, props: Any) -> None:
        if self._connected.is_set() and reason.is_failure:
            log.warning("%s: connection lost (%s); paho reconnects", self.client_id, reason)

    def _on_publish(self, c: mqtt.Client, u: Any, mid: int, reason: Any, props: Any) -> None:
        self.completed += 1

    # -- life cycle -------------------------------------------------------------------------
    def _start(self) -> None:
        self._client.connect_async(self.host, self.port, self._keepalive)
        self._client.loop_start()
        self._started = True

    def _check_connected(self, deadline: float) -> bool:
        if self._connected.is_set():
            return True
        if self._refused is not None or time.monotonic() > deadline:
            why = self._refused or f"no answer within {self.connect_timeout:g} s"
            self.close()
            raise SimulatorError(f"cannot connect to MQTT broker {self.host}:{self.port}: {why}")
        return False

    def start(self) -> None:
        """Connect (blocking until the broker accepted) and start the network thread."""
        self._start()
        deadline = time.monotonic() + self.connect_timeout
        while not self._check_connected(deadline):
            self._connected.wait(_POLL * 10)

    async def start_async(self) -> None:
        """Like ``start`` without blocking the event loop."""
        self._start()
        deadline = time.monotonic() + self.connect_timeout
        while not self._check_connected(deadline):  # noqa: ASYNC110 (set by paho's thread)
            await asyncio.sleep(_POLL * 5)

    def close(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- publishing -------------------------------------------------------------------------
    @property
    def outstanding(self) -> int:
        """Messages handed to paho and not yet acknowledged."""
        return self.published - self.completed - self.failed

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Queue one message (never blocks); False if paho refused it."""
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and (qos == 0 or info.rc != mqtt.MQTT_ERR_NO_CONN):
            self.failed += 1  # QoS 1 messages queued while offline go out after a reconnect
            return False
        self.published += 1
        return True

    def wait_room(self) -> None:
        """Block while ``max_outstanding`` messages are unacknowledged."""
        while self.outstanding >= self.max_outstanding:
            time.sleep(_POLL)

    async def wait_room_async(self) -> None:
        """Like ``wait_room`` without blocking the event loop."""
        # Polled: acknowledgements are counted by paho's network thread, and waking the
        # event loop from there for each one would cost more than this rare wait.
        while self.outstanding >= self.max_outstanding:  # noqa: ASYNC110
            await asyncio.sleep(_POLL)

    def drain(self, timeout: float) -> bool:
        """Wait until everything published is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.outstanding > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL)
        return True

    async def drain_async(self, timeout: float) -> bool:
        """Like ``drain`` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while self.outstanding > 0:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_POLL * 5)
        return True
