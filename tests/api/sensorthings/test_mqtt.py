"""SensorThings MQTT extension: a real subscriber on the test broker receives an
observation a real gateway ingested from a device message, and one that was POSTed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aiomqtt
import orjson
import pytest

from ingest.feed import CommitFeed
from tests.support.api import running_api
from tests.support.broker import Broker
from tests.support.gateway import config_for, publish, running_gateway, scheme_for

from .seed import seed


@pytest.fixture
async def subscriber(broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    """An MQTT client on the test broker."""
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=f"sub-{uuid.uuid4().hex[:8]}"
    ) as c:
        yield c


async def _next(client: aiomqtt.Client, timeout: float = 30.0) -> tuple[str, dict[str, object]]:
    async def one() -> tuple[str, dict[str, object]]:
        async for msg in client.messages:
            payload = msg.payload
            assert isinstance(payload, bytes)
            return str(msg.topic), orjson.loads(payload)
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(one(), timeout)


async def test_subscribers_receive_device_and_posted_observations(
    database_url: str, broker: Broker, topic_prefix: str, subscriber: aiomqtt.Client
) -> None:
    city = await seed(database_url)
    feed = CommitFeed()
    ds = city.ds("aq-1", "pm25")
    await subscriber.subscribe(f"v1.1/Datastreams({ds})/Observations")
    async with (
        running_api(database_url, feed=feed, sta_mqtt_enabled=True, mqtt_port=broker.port) as api,
        running_gateway(config_for(database_url, broker.port, topic_prefix), feed=feed),
    ):
        for _ in range(600):  # the publisher subscribes to the feed when its task starts
            if api.ctx.feed.active:
                break
            await asyncio.sleep(0.05)
        # A device message through the real gateway.
        ts = round(time.time() - 1, 3)
        payload = orjson.dumps({"id": "aq-1", "ts": ts, "seq": 1, "values": {"pm25": 12.5}})
        await publish(broker.port, [(scheme_for(topic_prefix).telemetry_topic("aq-1"), payload)])
        topic, obs = await _next(subscriber)
        assert topic == f"v1.1/Datastreams({ds})/Observations"
        assert obs["result"] == 12.5
        assert obs["@iot.id"] == f"{ds}-{round(ts * 1_000_000)}"
        # The published entity is the one the API serves.
        served = (await api.client.get(str(obs["@iot.selfLink"]).removeprefix(api.base))).json()
        assert served["result"] == 12.5 and served["phenomenonTime"] == obs["phenomenonTime"]
        # A POSTed observation reaches the subscriber too, also on v1.1/Observations.
        await subscriber.subscribe("v1.1/Observations")
        await asyncio.sleep(0.2)
        r = await api.client.post(
            f"/v1.1/Datastreams({ds})/Observations",
            headers=await api.headers("operator"),
            json={"result": 3.25, "phenomenonTime": "2024-05-02T00:00:00Z"},
        )
        assert r.status_code == 201, r.text
        posted = r.json()["@iot.id"]
        topics: set[str] = set()
        while len(topics) < 2:  # earlier device readings may still be in flight: skip them
            topic, obs = await _next(subscriber)
            if obs["@iot.id"] == posted:
                assert obs["result"] == 3.25
                assert obs["phenomenonTime"] == "2024-05-02T00:00:00Z"
                topics.add(topic)
        assert topics == {f"v1.1/Datastreams({ds})/Observations", "v1.1/Observations"}
