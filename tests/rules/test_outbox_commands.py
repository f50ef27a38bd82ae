"""Device commands through the outbox reach a real MQTT subscriber; a broker that is down
delays them, it does not lose them."""

from __future__ import annotations

import asyncio

import aiomqtt
import orjson

from tests.support.broker import Broker, private_broker
from tests.support.gateway import scheme_for
from tests.support.outbox import put, running_sender, wait_row


async def test_command_is_published_with_the_outbox_id(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    scheme = scheme_for(topic_prefix)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{topic_prefix}-dev") as dev:
        await dev.subscribe(scheme.command_topic("light-7"), qos=1)
        delivery = await put(
            database_url, "command", "light-7", {"command": "dim", "params": {"level": 30}}
        )
        assert delivery is not None
        async with running_sender(database_url, broker_port=broker.port, scheme=scheme):
            async with asyncio.timeout(30):
                message = await anext(dev.messages)
            done = await wait_row(database_url, delivery, "delivered_at IS NOT NULL")
    assert done["delivered_at"] is not None and done["attempts"] == 1
    assert str(message.topic) == f"{topic_prefix}/devices/light-7/commands"
    assert message.qos == 1 and not message.retain
    assert orjson.loads(message.payload) == {
        "command": "dim",
        "params": {"level": 30},
        "id": str(delivery),
    }


async def test_broker_down_then_up_delivers_the_command(
    database_url: str, topic_prefix: str
) -> None:
    scheme = scheme_for(topic_prefix)
    topic = scheme.command_topic("light-9")
    with private_broker(persistence=True) as b:
        # The device has a persistent session: the broker keeps its commands while it is
        # away, so it can come back after the broker to collect what was sent.
        async with aiomqtt.Client(
            "127.0.0.1", b.port, identifier="light-9", clean_session=False
        ) as dev:
            await dev.subscribe(topic, qos=1)
        b.stop()
        delivery = await put(database_url, "command", "light-9", {"command": "on"})
        assert delivery is not None
        async with running_sender(database_url, broker_port=b.port, scheme=scheme):
            down = await wait_row(database_url, delivery, "attempts >= 2")
            assert down["delivered_at"] is None
            assert "broker" in down["last_error"]
            b.start()
            done = await wait_row(database_url, delivery, "delivered_at IS NOT NULL")
            assert done["delivered_at"] is not None
        async with aiomqtt.Client(
            "127.0.0.1", b.port, identifier="light-9", clean_session=False
        ) as dev:
            async with asyncio.timeout(30):
                message = await anext(dev.messages)
    assert str(message.topic) == topic
    assert orjson.loads(message.payload) == {
        "command": "on",
        "params": {},
        "id": str(delivery),
    }
