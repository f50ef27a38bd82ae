"""The gateway process: one task group owns the MQTT session, the batch flusher, the
device registry follower, the status sweeper and (if enabled) the provisioner.

Shutdown runs in order: stop reading from the broker, flush and commit what was taken,
acknowledge it, disconnect (the persistent session keeps anything not acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import asyncpg
from prometheus_client import CollectorRegistry

from device_profiles import ProfileRegistry
from device_profiles.topics import TopicScheme
from ingest.batch import Batch
from ingest.db import open_pool
from ingest.devices import ensure_metrics
from ingest.feed import CommitFeed
from ingest.metrics import WriterMetrics
from ingest.writer import STAGING_DDL, BatchWriter

from .metrics import GatewayMetrics
from .mqtt import ConnectOptions
from .pipeline import Limits, Pipeline, ProvisionRequest
from .provision import Provisioner
from .registry import DeviceRegistry
from .session import MqttSession
from .status import StatusTracker

log = logging.getLogger(__name__)

__all__ = ["Gateway", "GatewayConfig"]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything the gateway needs, built from the root settings by the entry point."""

    database_url: str
    mqtt: ConnectOptions
    scheme: TopicScheme
    limits: Limits
    shared_group: str | None = None
    batch_max_messages: int = 20_000
    batch_max_delay_s: float = 0.05
    auto_provision_profile: str | None = None
    backfill_horizon_s: float = 3600.0
    shutdown_timeout_s: float = 20.0
    status_interval_s: float = 5.0


class Gateway:
    """Runs until cancelled or until :meth:`stop` is called."""

    def __init__(
        self,
        config: GatewayConfig,
        profiles: ProfileRegistry,
        metrics_registry: CollectorRegistry | None = None,
        feed: CommitFeed | None = None,
    ) -> None:
        self.config = config
        # Committed readings go here (rules, live updates), in commit order.
        self.feed = feed or CommitFeed()
        self.profiles = profiles
        self.prometheus = metrics_registry or CollectorRegistry()
        self.metrics = GatewayMetrics(self.prometheus)
        self.writer_metrics = WriterMetrics(self.prometheus)
        self.registry = DeviceRegistry(profiles)
        self.status = StatusTracker(self.registry, self.metrics)
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._flush_now = asyncio.Event()
        self.session: MqttSession | None = None
        self.pipeline: Pipeline | None = None

    def stop(self) -> None:
        """Ask for a graceful shutdown."""
        self._stop.set()

    async def run(self) -> None:
        """Run every part of the gateway until stopped."""
        cfg = self.config
        if cfg.auto_provision_profile and cfg.auto_provision_profile not in self.profiles:
            raise ValueError(f"auto-provision profile {cfg.auto_provision_profile!r} is unknown")
        async with open_pool(
            cfg.database_url, min_size=2, max_size=4, init=_init_connection
        ) as pool:
            async with pool.acquire() as conn:
                metric_names = {m for p in self.profiles for m in p.metrics}
                metric_ids = await ensure_metrics(conn, metric_names)
            provisioner = (
                Provisioner(cfg.auto_provision_profile, self.registry)
                if cfg.auto_provision_profile
                else None
            )
            provision_request = provisioner.request if provisioner else None

            def on_commit(tokens: list[int]) -> None:
                session.ack(tokens)  # bound below, before any batch can commit

            pipeline = Pipeline(
                cfg.scheme,
                self.registry,
                metric_ids,
                cfg.limits,
                self.metrics,
                self.status,
                on_commit=on_commit,
                provision=provision_request,
                on_full=self._flush_now.set,
                full_at=cfg.batch_max_messages,
            )
            self.pipeline = pipeline
            on_message = pipeline.handle

            session = MqttSession(
                cfg.mqtt, cfg.scheme.subscriptions(cfg.shared_group), on_message, self.metrics
            )
            self.session = session
            writer = BatchWriter(
                pool, self.writer_metrics, backfill_horizon_s=cfg.backfill_horizon_s
            )

            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self.registry.follow(cfg.database_url), name="device-registry"),
                    tg.create_task(
                        self.status.run(pool, cfg.status_interval_s), name="device-status"
                    ),
                ]
                await self.registry.changed.wait()  # loaded once before taking messages
                flusher = tg.create_task(self._flusher(pipeline, writer), name="batch-flusher")
                tasks.append(tg.create_task(session.run(), name="mqtt-session"))
                if provisioner is not None:

                    def replay(req: ProvisionRequest) -> None:
                        on_message(*req)

                    tasks.append(
                        tg.create_task(provisioner.run(pool, replay), name="auto-provisioner")
                    )
                await session.connected.wait()
                self.ready.set()
                await self._stop.wait()
                log.info("gateway: shutting down")
                session.pause()  # nothing new comes in; the flusher commits what was taken
                self._flush_now.set()
                try:
                    async with asyncio.timeout(cfg.shutdown_timeout_s):
                        await flusher
                except TimeoutError:
                    log.error("gateway: final flush timed out; the broker will redeliver")
                await session.disconnect()
                for task in tasks:
                    task.cancel()
        log.info("gateway: stopped")

    async def _flusher(self, pipeline: Pipeline, writer: BatchWriter) -> None:
        """Commit batches as they fill or age, two at a time; after stop, commit the rest
        and return.

        Two writes overlap so that PostgreSQL works on one batch while the other is sent
        (one backend is one core). Acknowledgements still go out in the order the
        messages came: a batch's wait for the one before it.
        """
        delay = self.config.batch_max_delay_s
        in_flight: asyncio.Task[None] | None = None
        started: asyncio.Task[None] | None = None
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._flush_now.wait()
                self._flush_now.clear()
                # Full batches, then whatever the current one holds (once per wake-up, so
                # batches grow while the database is busy rather than shrink to nothing).
                while pipeline.has_full() or not pipeline.batch.is_empty():
                    full = pipeline.has_full()
                    started = asyncio.create_task(
                        self._commit(writer, pipeline.take(), in_flight), name="batch-commit"
                    )
                    if in_flight is not None:
                        await in_flight  # at most two batches in flight
                    in_flight = started
                    if not full:
                        break
                if pipeline.batch.is_empty() and pipeline.batch.messages:
                    pipeline.take()  # only dropped QoS 0 traffic: nothing to write
                if self._stop.is_set():
                    if in_flight is not None:
                        await in_flight
                    return
        finally:
            for task in (in_flight, started):
                if task is not None and not task.done():
                    task.cancel()

    async def _commit(
        self, writer: BatchWriter, batch: Batch, before: asyncio.Task[None] | None
    ) -> None:
        on_commit, batch.on_commit = batch.on_commit, None
        result = await writer.write(batch)
        if before is not None:
            await asyncio.shield(before)  # acknowledge (and publish) in order
        if on_commit is not None and batch.acks:
            on_commit(batch.acks)
        self.feed.publish_batch(batch, result.duplicates)
        if batch.publish_us:
            now_us = time.time_ns() // 1000
            lag = self.metrics.lag
            for t in batch.publish_us[:: max(1, len(batch.publish_us) // 100)]:
                lag.observe(max(0.0, (now_us - t) / 1e6))


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute("SET client_min_messages = warning")
    await conn.execute(STAGING_DDL)
