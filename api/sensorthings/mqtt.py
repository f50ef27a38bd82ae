"""SensorThings MQTT extension: every committed reading, from a device (through the
gateway) or from a POST, is published as an Observation entity, QoS 0, on

- ``v1.1/Datastreams(<id>)/Observations``
- ``v1.1/Observations``

A feed subscriber puts committed batches on a bounded queue (readings beyond the bound
are dropped and counted in ``citygate_sta_mqtt_dropped_total``); one background task
publishes them, reconnecting with jittered backoff while the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterator

import aiomqtt
import orjson
from prometheus_client import Counter

from ingest.feed import Committed

from ..context import ApiContext
from .ids import datastream_id, observation_id
from .timefmt import iso, us_to_dt

log = logging.getLogger(__name__)

__all__ = ["MAX_PENDING", "StaMqttPublisher", "observation_messages"]

MAX_PENDING = 50_000  # readings waiting to be published
_MAX_BACKOFF_S = 30.0


def observation_messages(c: Committed, base: str) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) pairs for every reading of a committed batch."""
    states = c.state
    for i in range(len(c)):
        dk, mid, t_us = int(c.device_key[i]), int(c.metric_id[i]), int(c.time_us[i])
        ds = datastream_id(dk, mid)
        oid = observation_id(dk, mid, t_us)
        link = f"{base}/Observations('{oid}')"
        at = iso(us_to_dt(t_us))
        state = states[i] if states is not None else None
        payload = orjson.dumps(
            {
                "@iot.id": oid,
                "@iot.selfLink": link,
                "phenomenonTime": at,
                "resultTime": at,
                "result": state if state is not None else float(c.value[i]),
                "parameters": {"receivedAt": iso(us_to_dt(int(c.received_us[i])))},
                "Datastream@iot.navigationLink": f"{link}/Datastream",
                "FeatureOfInterest@iot.navigationLink": f"{link}/FeatureOfInterest",
            }
        )
        yield f"v1.1/Datastreams({ds})/Observations", payload
        yield "v1.1/Observations", payload


class StaMqttPublisher:
    """Feed subscriber plus publishing task (run by the API service)."""

    def __init__(self, ctx: ApiContext, base: str) -> None:
        self._ctx = ctx
        self._base = base
        self._queue: asyncio.Queue[Committed] = asyncio.Queue()
        self._pending = 0
        self._dropped_logged = False
        self.connected = asyncio.Event()
        self.dropped = Counter(
            "citygate_sta_mqtt_dropped_total",
            "Observations not published on the SensorThings MQTT topics (queue full)",
            registry=ctx.prometheus,
        )
        self.published = Counter(
            "citygate_sta_mqtt_published_total",
            "Observations published on the SensorThings MQTT topics",
            registry=ctx.prometheus,
        )

    def on_commit(self, committed: Committed) -> None:
        """Feed subscriber: queue the batch, or drop it (counted) when the queue is full."""
        n = len(committed)
        if not n:
            return
        if self._pending + n > MAX_PENDING:
            self.dropped.inc(n)
            if not self._dropped_logged:
                log.warning(
                    "SensorThings MQTT queue full (%d readings): dropping %d; broker slow or away",
                    self._pending,
                    n,
                )
                self._dropped_logged = True
            return
        self._pending += n
        self._queue.put_nowait(committed)

    async def run(self) -> None:
        """Publish queued observations forever, reconnecting to the broker as needed."""
        feed = self._ctx.feed
        unsubscribe = feed.subscribe("sensorthings-mqtt", self.on_commit)
        cfg = self._ctx.config
        attempt = 0
        try:
            while True:
                try:
                    async with aiomqtt.Client(
                        cfg.mqtt_host,
                        cfg.mqtt_port,
                        username=cfg.mqtt_username,
                        password=cfg.mqtt_password,
                        identifier=f"citygate-sta-{uuid.uuid4().hex[:8]}",
                    ) as client:
                        if attempt:
                            log.info("SensorThings MQTT publisher reconnected")
                        attempt = 0
                        self.connected.set()
                        await self._publish_forever(client)
                except aiomqtt.MqttError as exc:
                    self.connected.clear()
                    attempt += 1
                    delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** min(attempt, 6))
                    delay *= random.uniform(0.5, 1.0)
                    log.warning(
                        "SensorThings MQTT publisher: broker %s:%d unavailable (%s); "
                        "retry %d in %.1fs",
                        cfg.mqtt_host,
                        cfg.mqtt_port,
                        exc,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            unsubscribe()
            self.connected.clear()

    async def _publish_forever(self, client: aiomqtt.Client) -> None:
        while True:
            committed = await self._queue.get()
            self._pending -= len(committed)
            self._dropped_logged = False
            for topic, payload in observation_messages(committed, self._base):
                await client.publish(topic, payload, qos=0)
            self.published.inc(len(committed))
