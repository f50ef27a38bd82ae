"""Run a real gateway (in-process) against a test database and broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace

import aiomqtt
import asyncpg

from device_profiles import ProfileRegistry
from device_profiles.topics import TopicScheme
from gateway.mqtt import ConnectOptions
from gateway.pipeline import Limits
from gateway.service import Gateway, GatewayConfig
from ingest.feed import CommitFeed

PROFILES = ProfileRegistry.load()


def scheme_for(prefix: str) -> TopicScheme:
    """A topic scheme rooted at a prefix unique to the test."""
    return TopicScheme(
        prefix=f"{prefix}/devices",
        ttn_prefix=f"{prefix}/v3",
        chirpstack_prefix=f"{prefix}/application",
    )


def config_for(database_url: str, port: int, prefix: str, **overrides: object) -> GatewayConfig:
    """A gateway configuration for tests (short batch delay, unique client id)."""
    cfg = GatewayConfig(
        database_url=database_url,
        mqtt=ConnectOptions(host="127.0.0.1", port=port, client_id=f"gw-{prefix}", keepalive=10),
        scheme=scheme_for(prefix),
        limits=Limits(max_future_skew_s=300, max_past_age_s=7 * 86400),
        batch_max_messages=500,
        batch_max_delay_s=0.02,
        status_interval_s=0.2,
    )
    return replace(cfg, **overrides)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_gateway(
    config: GatewayConfig, feed: CommitFeed | None = None
) -> AsyncIterator[Gateway]:
    """A gateway running in a task; stopped gracefully (and awaited) on exit. ``feed``:
    where it publishes committed readings (share one with ``running_api``)."""
    gw = Gateway(config, PROFILES, feed=feed)
    task = asyncio.create_task(gw.run(), name="test-gateway")
    ready = asyncio.create_task(gw.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # raises what the gateway died of
    if ready not in done:
        ready.cancel()
        task.cancel()
        raise TimeoutError("gateway did not become ready")
    try:
        yield gw
    finally:
        gw.stop()
        await asyncio.wait_for(task, 30)


async def publish(
    port: int, messages: Iterable[tuple[str, bytes]], qos: int = 1, client_id: str | None = None
) -> int:
    """Publish messages with aiomqtt; returns how many."""
    n = 0
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=client_id or f"pub-{uuid.uuid4().hex[:8]}"
    ) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=qos)
            n += 1
    return n


async def wait_until(
    url: str, query: str, expected: object, *args: object, timeout: float = 30.0
) -> object:
    """Poll ``query`` until it returns ``expected`` (returns the last value on timeout)."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(url)
    try:
        while True:
            value = await conn.fetchval(query, *args)
            if value == expected or time.monotonic() > deadline:
                return value
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
