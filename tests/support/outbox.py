"""Run the real outbox sender against a test database."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping

import asyncpg
from prometheus_client import CollectorRegistry

from device_profiles.topics import TopicScheme
from ingest.db import open_pool
from rules.actions.command_delivery import ReconnectingCommands
from rules.actions.outbox import OutboxConfig, OutboxSender, enqueue
from rules.actions.outbox_store import Kind
from rules.actions.ssrf import WebhookPolicy

SECRET = b"test-secret-0123456789abcdef"

# Fast retries; the loopback receiver allowed by an explicit CIDR, as an operator would.
FAST = OutboxConfig(
    webhook_secret=SECRET,
    policy=WebhookPolicy.of(False, ["127.0.0.1/32"]),
    connect_timeout_s=2.0,
    total_timeout_s=10.0,
    max_attempts=1000,
    backoff_base_s=0.05,
    backoff_max_s=0.2,
    concurrency=4,
    poll_interval_s=0.05,
)


@contextlib.asynccontextmanager
async def running_sender(
    database_url: str,
    config: OutboxConfig = FAST,
    *,
    broker_port: int = 1,
    scheme: TopicScheme | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[OutboxSender]:
    """An OutboxSender running as a task until the block ends (then cancelled, as the
    service stops it)."""
    async with (
        open_pool(database_url, min_size=1, max_size=4) as pool,
        ReconnectingCommands("127.0.0.1", broker_port, scheme or TopicScheme()) as commands,
    ):
        sender = OutboxSender(pool, config, registry or CollectorRegistry(), commands)
        task = asyncio.create_task(sender.run(), name="test-outbox-sender")
        try:
            yield sender
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def put(
    database_url: str,
    kind: Kind,
    target: str,
    payload: Mapping[str, object],
    dedup_key: str | None = None,
) -> int | None:
    """Enqueue one delivery in a transaction of its own."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            return await enqueue(conn, kind, target, payload, dedup_key)
    finally:
        await conn.close()


async def row(database_url: str, delivery_id: int) -> asyncpg.Record:
    """The outbox row."""
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetchrow("SELECT * FROM outbox WHERE id = $1", delivery_id)
        assert found is not None
        return found
    finally:
        await conn.close()


async def wait_row(
    database_url: str, delivery_id: int, query: str, timeout: float = 30.0
) -> asyncpg.Record:
    """Poll until ``query`` (a boolean over the row's columns) holds; returns the row."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            found = await conn.fetchrow(
                f"SELECT *, ({query}) AS ok FROM outbox WHERE id = $1",
                delivery_id,
            )
            assert found is not None
            if found["ok"] or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.03)
    finally:
        await conn.close()
