"""Run the real rules engine over a test database, and commit readings the way the
gateway does (batch writer, then the feed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import asyncpg
import yaml

from ingest.db import open_pool
from ingest.devices import ensure_metrics
from ingest.feed import CommitFeed
from rules.actions.alarms import ActionSink
from rules.definition.model import Rule
from rules.engine import EngineConfig, RulesEngine
from rules.store import RuleRecord, save_rule
from tests.support.fixtures_data import batch_of, init_staging, writer_for
from tests.support.gateway import PROFILES

MIN = 60_000_000


@contextlib.asynccontextmanager
async def running_engine(
    database_url: str,
    feed: CommitFeed,
    actions: ActionSink | None = None,
    **config: object,
) -> AsyncIterator[RulesEngine]:
    """An engine running in a task until the block ends."""
    async with open_pool(database_url, min_size=1, max_size=4) as pool:
        cfg = replace(EngineConfig(database_url, tick_s=0.2), **config)  # type: ignore[arg-type]
        engine = RulesEngine(pool, PROFILES, feed, cfg, actions=actions)
        task = asyncio.create_task(engine.run(), name="test-rules-engine")
        ready = asyncio.create_task(engine.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=30, return_when="FIRST_COMPLETED")
        if task in done:
            ready.cancel()
            task.result()
        try:
            yield engine
        finally:
            ready.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def drained(engine: RulesEngine, timeout: float = 20.0) -> None:
    """Wait until every alarm change the engine produced is written."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not engine.idle:
        if loop.time() > deadline:
            raise TimeoutError("alarm writes did not drain")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)


async def store_rule(url: str, text: str) -> RuleRecord:
    """Save a rule given as YAML."""
    conn = await asyncpg.connect(url)
    try:
        record, _ = await save_rule(conn, Rule.model_validate(yaml.safe_load(text)))
        return record
    finally:
        await conn.close()


class Committer:
    """Writes readings like the gateway (binary COPY, dedup) and publishes them."""

    def __init__(self, pool: asyncpg.Pool, feed: CommitFeed, metric_ids: dict[str, int]) -> None:
        self.writer = writer_for(pool)
        self.feed = feed
        self.metric_ids = metric_ids

    async def commit(self, rows: Sequence[tuple[int, int, str, float]]) -> None:
        """Commit (device key, time µs, metric, value) readings as one batch."""
        batch = batch_of([(t, d, self.metric_ids[m], v) for d, t, m, v in rows], rows[0][1])
        result = await self.writer.write(batch)
        self.feed.publish_batch(batch, result.duplicates)


@contextlib.asynccontextmanager
async def committer(database_url: str, feed: CommitFeed) -> AsyncIterator[Committer]:
    """A :class:`Committer` with its own pool."""
    async with open_pool(database_url, min_size=1, max_size=2, init=init_staging) as pool:
        async with pool.acquire() as conn:
            ids = await ensure_metrics(conn, {m for p in PROFILES for m in p.metrics})
        yield Committer(pool, feed, ids)
