"""`citygate serve` runs the outbox sender: a queued webhook and a device command are
delivered by the real process, signed with the configured secret, and it stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiomqtt
import orjson

from rules.actions.webhooks import verify_signature
from tests.support.broker import Broker, free_port
from tests.support.gateway import scheme_for
from tests.support.outbox import put, wait_row
from tests.support.receiver import Receiver

SECRET = "serve-secret-0123456789"


async def test_serve_delivers_webhooks_and_commands(
    database_url: str, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CITYGATE_DATABASE_URL": database_url,
        "CITYGATE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "CITYGATE_MQTT_CLIENT_ID": f"gw-{topic_prefix}",
        "CITYGATE_TOPIC_PREFIX": f"{topic_prefix}/devices",
        "CITYGATE_API_PORT": str(free_port()),
        "CITYGATE_WEBHOOK_SECRET": SECRET,
        "CITYGATE_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1/32"]',
        "CITYGATE_OUTBOX_POLL_INTERVAL_S": "0.1",
    }
    scheme = scheme_for(topic_prefix)
    log = tmp_path / "serve.log"
    async with (
        Receiver() as receiver,
        aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{topic_prefix}-l") as device,
    ):
        await device.subscribe(scheme.command_topic("light-3"), qos=1)
        hook = await put(database_url, "webhook", receiver.url(), {"event": "test"})
        command = await put(database_url, "command", "light-3", {"command": "off"})
        assert hook is not None and command is not None
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "citygate", "serve", env=env, stdout=out, stderr=out
            )
        try:
            done = await wait_row(database_url, hook, "delivered_at IS NOT NULL", timeout=60)
            assert done["delivered_at"] is not None, log.read_text()
            async with asyncio.timeout(60):
                message = await anext(device.messages)
            await wait_row(database_url, command, "delivered_at IS NOT NULL", timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, log.read_text()
    [got] = receiver.answered
    assert verify_signature(SECRET.encode(), got.headers["x-citygate-signature"], got.body)
    assert orjson.loads(message.payload) == {"command": "off", "params": {}, "id": str(command)}
