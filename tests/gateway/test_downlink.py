"""Device commands reach the device's command topic on a real broker."""

from __future__ import annotations

import asyncio

import aiomqtt
import orjson
import pytest

from gateway.downlink import CommandError, CommandPublisher
from tests.support.broker import Broker
from tests.support.gateway import scheme_for


async def test_a_command_reaches_the_device(broker: Broker, topic_prefix: str) -> None:
    scheme = scheme_for(topic_prefix)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="light-7") as device:
        await device.subscribe(scheme.command_topic("light-7"), qos=1)
        async with CommandPublisher("127.0.0.1", broker.port, scheme) as commands:
            sent = await commands.send("light-7", "dim", {"level": 30}, command_id="c-1")
        async with asyncio.timeout(10):
            message = await anext(device.messages)
    assert str(message.topic) == f"{topic_prefix}/devices/light-7/commands"
    assert message.payload == sent
    assert orjson.loads(sent) == {"command": "dim", "params": {"level": 30}, "id": "c-1"}
    assert message.qos == 1 and not message.retain


@pytest.mark.parametrize(
    ("device", "command", "params", "reason"),
    [
        ("light+7", "dim", {}, "forbidden character"),
        ("light-7", "dim now", {}, "invalid command name"),
        ("light-7", "dim", {"x": object()}, "not JSON"),
        ("light-7", "dim", {"x": "y" * 5000}, "exceeds"),
    ],
)
async def test_bad_commands_are_refused_with_a_reason(
    broker: Broker, topic_prefix: str, device: str, command: str, params: dict[str, object],
    reason: str,
) -> None:  # fmt: skip
    async with CommandPublisher("127.0.0.1", broker.port, scheme_for(topic_prefix)) as commands:
        with pytest.raises(CommandError, match=reason):
            await commands.send(device, command, params)
