"""Run the real HTTP API (uvicorn on a free loopback port) over a test database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import asyncpg
import httpx

from api.context import ApiConfig, ApiContext, MetricCatalogue
from api.service import ApiService
from ingest.db import open_pool
from ingest.devices import ensure_metrics
from ingest.feed import CommitFeed
from ingest.queries.api_keys import create_key
from tests.support.broker import free_port
from tests.support.gateway import PROFILES


@dataclass
class RunningApi:
    """A served app: its base URL, its context and a client on it."""

    base: str
    ctx: ApiContext
    client: httpx.AsyncClient
    service: ApiService

    async def key(self, role: str = "operator", districts: list[str] | None = None) -> str:
        """A fresh API key with ``role`` (and an optional district scope)."""
        async with self.ctx.pool.acquire() as conn:
            _, text = await create_key(conn, f"test {role}", role, districts)
        return text

    async def headers(
        self, role: str = "operator", districts: list[str] | None = None
    ) -> dict[str, str]:
        """Request headers carrying a fresh key."""
        return {"X-API-Key": await self.key(role, districts)}


@contextlib.asynccontextmanager
async def running_api(
    database_url: str,
    *,
    feed: CommitFeed | None = None,
    broker_connected: bool = True,
    **config: object,
) -> AsyncIterator[RunningApi]:
    """The API served on 127.0.0.1:<free port> until the block ends."""
    # The SensorThings MQTT publisher is off unless a test points it at its broker.
    config.setdefault("sta_mqtt_enabled", False)
    async with open_pool(database_url, min_size=1, max_size=8) as pool:
        async with pool.acquire() as conn:
            catalogue = await ensure_metrics(conn, {m for p in PROFILES for m in p.metrics})
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        ctx = ApiContext(
            pool=pool,
            profiles=PROFILES,
            metrics=MetricCatalogue.of(catalogue),
            config=replace(ApiConfig(public_url=base), **config),  # type: ignore[arg-type]
            feed=feed or CommitFeed(),
            broker_connected=lambda: broker_connected,
        )
        service = ApiService(ctx, "127.0.0.1", port)
        task = asyncio.create_task(service.run(), name="test-api")
        for _ in range(200):
            if service.started or task.done():
                break
            await asyncio.sleep(0.025)
        if task.done():
            task.result()
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                yield RunningApi(base, ctx, client, service)
        finally:
            service.stop()
            await asyncio.wait_for(task, 30)


async def fetch_one(url: str, query: str, *args: object) -> object:
    """One value from the test database."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()
