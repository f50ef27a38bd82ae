"""The gateway's persistent MQTT session: connect, subscribe, reconnect with jittered
backoff, and acknowledge only what the writer says is committed.

Acknowledgement tokens are ``generation << 16 | packet_id``: a token from a connection
that has since dropped is never sent on the new one (its message is redelivered by the
broker instead, and deduplicated by the database).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from .metrics import GatewayMetrics
from .mqtt import ConnectOptions, MqttConnectError, MqttConnection
from .mqtt.connection import PublishHandler

log = logging.getLogger(__name__)

__all__ = ["MessageHandler", "MqttSession"]

# topic, payload, ack token (None for QoS 0), received time (epoch microseconds)
MessageHandler = Callable[[str, bytes, int | None, int], None]


class MqttSession:
    """Owns the connection; :meth:`run` keeps it up until cancelled."""

    def __init__(
        self,
        options: ConnectOptions,
        filters: list[str],
        on_message: MessageHandler,
        metrics: GatewayMetrics,
        max_backoff: float = 30.0,
    ) -> None:
        self._options = options
        self._filters = filters
        self._on_message = on_message
        self._metrics = metrics
        self._max_backoff = max_backoff
        self._conn: MqttConnection | None = None
        self._generation = 0
        self.connected = asyncio.Event()

    def ack(self, tokens: list[int]) -> None:
        """PUBACK the messages of a committed batch that came on the current connection."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        gen = self._generation
        conn.ack([t & 0xFFFF for t in tokens if t >> 16 == gen])

    def _publish_handler(self) -> PublishHandler:
        base = self._generation << 16
        handler = self._on_message
        now_ns = time.time_ns

        def on_publish(topic: str, payload: bytes, mid: int, qos: int, dup: bool) -> None:
            handler(topic, payload, base | mid if qos else None, now_ns() // 1000)

        return on_publish

    def pause(self) -> None:
        """Stop reading from the broker (used while shutting down)."""
        if self._conn is not None:
            self._conn.pause_reading()

    async def run(self) -> None:
        """Connect, subscribe and stay connected; reconnect with capped jittered backoff."""
        attempt = 0
        while True:
            self._generation = (self._generation + 1) & 0xFFFF
            try:
                conn = await MqttConnection.open(self._options, self._publish_handler())
                self._conn = conn
                await conn.subscribe(self._filters, qos=1)
            except (MqttConnectError, ConnectionError, TimeoutError) as exc:
                attempt += 1
                delay = min(self._max_backoff, 0.5 * 2 ** min(attempt, 8)) * random.uniform(
                    0.5, 1.0
                )
                log.warning("MQTT: %s; reconnecting in %.1fs (attempt %d)", exc, delay, attempt)
                await asyncio.sleep(delay)
                continue
            if attempt or self._generation > 1:
                self._metrics.broker_reconnects.inc()
            attempt = 0
            log.info(
                "MQTT: connected to %s:%d as %s (session present: %s)",
                self._options.host,
                self._options.port,
                self._options.client_id,
                conn.session_present,
            )
            self.connected.set()
            try:
                async with asyncio.TaskGroup() as tg:
                    ping = tg.create_task(
                        conn.keepalive(self._options.keepalive), name="mqtt-keepalive"
                    )
                    reason = await conn.wait_closed()
                    ping.cancel()
            finally:
                self.connected.clear()
                if not conn.closed:  # cancelled while connected
                    conn.abort()
            log.warning("MQTT: %s; reconnecting", reason)
            await asyncio.sleep(random.uniform(0.1, 0.5))

    async def disconnect(self) -> None:
        """Leave politely; the persistent session stays on the broker."""
        if self._conn is not None:
            await self._conn.disconnect()
