"""The durable outbox: webhooks and device commands, delivered after the change that
caused them commits, retried with capped jittered backoff, surviving restarts.

The rules engine calls :func:`enqueue` inside its own transaction; :class:`OutboxSender`
(one named task of the service) claims due rows with ``FOR UPDATE SKIP LOCKED``, delivers
them in parallel workers with a time limit each, and records the outcome. A slow or dead
receiver holds one worker for at most ``total_timeout_s``; ingest never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.downlink import CommandError

from .command_delivery import CommandSink
from .outbox_store import (
    Delivery,
    OutboxError,
    claim_due,
    enqueue,
    outbox_counts,
    prune_delivered,
    record_attempt,
    release,
)
from .ssrf import WebhookPolicy
from .webhooks import DeliveryFailed, WebhookClient, WebhookTimeouts

log = logging.getLogger(__name__)

__all__ = ["OutboxConfig", "OutboxError", "OutboxSender", "backoff_s", "enqueue"]

_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """How the sender delivers (built from the root settings in ``citygate.wiring``)."""

    webhook_secret: bytes | None = None
    policy: WebhookPolicy = field(default_factory=WebhookPolicy)
    connect_timeout_s: float = 3.0
    total_timeout_s: float = 10.0
    max_attempts: int = 12
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    concurrency: int = 8
    poll_interval_s: float = 1.0
    retention_days: int = 14
    housekeeping_every_s: float = 30.0

    @property
    def lease_s(self) -> float:
        """How long a claimed row stays with this sender: past any attempt's time limit."""
        return self.total_timeout_s + 30.0


def backoff_s(attempt: int, base: float, cap: float) -> float:
    """Delay before the next try after ``attempt`` failures: exponential, capped, with
    jitter in its upper half so that many failed deliveries do not retry in lockstep."""
    delay: float = min(cap, base * 2.0 ** min(attempt - 1, 60))
    return delay / 2 + random.uniform(0, delay / 2)


class OutboxMetrics:
    """Prometheus metrics of the sender."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "citygate_outbox_deliveries",
            "Outbox attempts by kind and outcome (delivered, retry, failed)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "citygate_outbox_attempts", "Outbox delivery attempts started", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.pending = Gauge(
            "citygate_outbox_pending", "Undelivered outbox rows by kind and state",
            ["kind", "state"], registry=registry,
        )  # fmt: skip


class OutboxSender:
    """``await OutboxSender(pool, config, registry, commands).run()`` delivers forever."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        config: OutboxConfig,
        metrics: CollectorRegistry,
        commands: CommandSink,
        *,
        webhooks: WebhookClient | None = None,
    ) -> None:
        self._pool = pool
        self._config = config
        self._metrics = OutboxMetrics(metrics)
        self._commands = commands
        # The sender owns its HTTP client and closes it when run() ends.
        self._webhooks = webhooks or WebhookClient(
            config.policy,
            config.webhook_secret,
            WebhookTimeouts(connect=config.connect_timeout_s, read=config.total_timeout_s),
            max_connections=config.concurrency,
        )
        self._inflight: dict[int, Delivery] = {}
        self._slot_freed = asyncio.Event()
        self._last_housekeeping = -1e9

    async def run(self) -> None:
        """Claim and deliver until cancelled; on cancellation, deliveries in flight are
        given back (due at once) before the cancellation propagates."""
        cfg = self._config
        if cfg.webhook_secret is None:
            log.warning("CITYGATE_WEBHOOK_SECRET is not set: webhooks are sent unsigned")
        failures = 0
        try:
            async with self._webhooks, asyncio.TaskGroup() as tg:
                while True:
                    await self._housekeeping()
                    # Cleared before claiming: a delivery finishing meanwhile wakes us.
                    self._slot_freed.clear()
                    free = cfg.concurrency - len(self._inflight)
                    try:
                        claimed = await self._claim(free) if free > 0 else []
                        failures = 0
                    except _DB_ERRORS as exc:
                        failures += 1
                        wait = backoff_s(failures, cfg.poll_interval_s, 30.0)
                        log.warning("outbox: cannot claim deliveries (%s); again in %.1fs",
                                    exc, wait)  # fmt: skip
                        await asyncio.sleep(wait)
                        continue
                    for d in claimed:
                        self._inflight[d.id] = d
                        tg.create_task(self._deliver(d), name=f"outbox-delivery-{d.id}")
                    if len(claimed) < free or free <= 0:
                        # Nothing more due now, or every worker busy: wait for a worker
                        # to finish or for the next poll.
                        await self._wait_for_slot(cfg.poll_interval_s)
        finally:
            if self._inflight:
                await self._give_back(list(self._inflight))

    async def _claim(self, limit: int) -> list[Delivery]:
        async with self._pool.acquire(timeout=10) as conn:
            return await claim_due(conn, limit, self._config.lease_s)

    async def _wait_for_slot(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._slot_freed.wait()
        except TimeoutError:
            pass

    async def _give_back(self, ids: list[int]) -> None:
        try:
            async with asyncio.timeout(5), self._pool.acquire() as conn:
                await release(conn, ids)
            log.info("outbox: gave back %d deliveries in flight", len(ids))
        except _DB_ERRORS as exc:
            log.warning("outbox: could not give back deliveries %s (%s); their lease ends "
                        "in %.0fs", ids, exc, self._config.lease_s)  # fmt: skip

    async def _deliver(self, d: Delivery) -> None:
        """One attempt, then its record; never raises (one bad row must not stop the rest)."""
        cfg = self._config
        self._metrics.attempts.labels(d.kind).inc()
        error: str | None = None
        permanent = False
        try:
            async with asyncio.timeout(cfg.total_timeout_s):
                await self._attempt(d)
        except DeliveryFailed as exc:
            error, permanent = str(exc), exc.permanent
        except CommandError as exc:
            error = str(exc)
        except TimeoutError:
            error = f"timed out after {cfg.total_timeout_s:g}s"
        except OutboxError as exc:
            error, permanent = str(exc), True
        except Exception as exc:  # a bug must not stop the other deliveries: log it whole
            log.exception("outbox: delivery %d (%s to %s) failed unexpectedly", d.id, d.kind,
                          d.target)  # fmt: skip
            error = f"internal error: {type(exc).__name__}: {exc}"
        if error is None:
            outcome, retry_in = "delivered", None
        elif permanent or d.attempts >= cfg.max_attempts:
            outcome, retry_in = "failed", None
        else:
            outcome = "retry"
            retry_in = backoff_s(d.attempts, cfg.backoff_base_s, cfg.backoff_max_s)
        if error is not None:
            log.log(
                logging.WARNING if outcome == "failed" else logging.INFO,
                "outbox: %s %d to %s, attempt %d: %s (%s)", d.kind, d.id, d.target, d.attempts,
                error, "gave up" if outcome == "failed" else f"retry in {retry_in:.1f}s",
            )  # fmt: skip
        try:
            async with self._pool.acquire(timeout=10) as conn:
                await record_attempt(conn, d.id, error, retry_in)
        except _DB_ERRORS as exc:
            # The lease runs out and the row is claimed again: at least once, not lost.
            log.warning("outbox: could not record delivery %d (%s)", d.id, exc)
        self._metrics.deliveries.labels(d.kind, outcome).inc()
        del self._inflight[d.id]
        self._slot_freed.set()

    async def _attempt(self, d: Delivery) -> None:
        if d.kind == "webhook":
            await self._webhooks.post(d.target, d.payload.encode(), d.id)
        elif d.kind == "command":
            payload = orjson.loads(d.payload)
            params = payload.get("params") or {}
            await self._commands.send(d.target, payload["command"], params, command_id=str(d.id))
        else:
            raise OutboxError(f"unknown outbox kind {d.kind!r}")

    async def _housekeeping(self) -> None:
        """Now and then: refresh the pending gauge and prune old delivered rows."""
        now = time.monotonic()
        if now - self._last_housekeeping < self._config.housekeeping_every_s:
            return
        self._last_housekeeping = now
        try:
            async with self._pool.acquire(timeout=10) as conn:
                counts = await outbox_counts(conn)
                pruned = await prune_delivered(conn, self._config.retention_days)
        except _DB_ERRORS as exc:
            log.warning("outbox: housekeeping failed (%s)", exc)
            return
        for kind in ("webhook", "command"):
            for state in ("pending", "failed"):
                self._metrics.pending.labels(kind, state).set(counts.get((kind, state), 0))
        if pruned:
            log.info("outbox: pruned %d delivered rows", pruned)
