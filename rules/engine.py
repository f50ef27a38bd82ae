"""The rules engine as a service: evaluates every committed batch as it is published on
the feed (in commit order, on the event loop, a few numpy passes), writes the resulting
alarm changes from a queue of its own, runs timers (no-data, escalation), and follows
rule and device changes.

At start, and for every new or changed rule, state is rebuilt from stored history and
the alarms table (:mod:`rules.restore`); batches committed meanwhile are held and
evaluated right after, so none is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from device_profiles import ProfileRegistry
from ingest.db import connect
from ingest.devices import ensure_metrics
from ingest.errors import DatabaseUnavailable
from ingest.feed import CommitFeed, Committed
from ingest.writer import is_transient

from .actions.alarms import ActionSink, apply_event, escalate_due
from .evaluation.compile import StoredRule
from .evaluation.devices import DeviceTable, load_devices
from .evaluation.evaluator import Evaluator, adopt
from .evaluation.events import AlarmEvent
from .restore import rebuild
from .store import RuleRecord, get_rule, list_rules

log = logging.getLogger(__name__)

__all__ = ["EngineConfig", "EngineMetrics", "RulesEngine"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Settings of the engine (from the root settings)."""

    database_url: str
    tick_s: float = 5.0
    max_lookback_s: float = 6 * 3600.0
    max_pending_events: int = 100_000
    # Readings committed during a rebuild are held (then evaluated); beyond this many,
    # more are dropped and counted (about 40 bytes each).
    max_held_readings: int = 5_000_000


class EngineMetrics:
    """Prometheus metrics of the rules engine."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.evaluated = Counter(
            "citygate_rules_readings_evaluated_total",
            "Readings evaluated against rules (one per reading and condition on its device)",
            registry=registry,
        )
        self.skipped = Counter(
            "citygate_rules_readings_skipped_total",
            "Readings not evaluated because a newer one of the device was evaluated already "
            "(late or redelivered)",
            registry=registry,
        )
        self.events = Counter(
            "citygate_rules_alarm_events_total", "Alarm transitions by kind", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.dropped = Counter(
            "citygate_rules_events_dropped_total",
            "Alarm transitions dropped because the write queue was full (database away)",
            registry=registry,
        )
        self.unevaluated = Counter(
            "citygate_rules_readings_unevaluated_total",
            "Readings committed during a state rebuild beyond what could be held, so not "
            "evaluated by rules (stored all the same)",
            registry=registry,
        )
        self.pending = Gauge(
            "citygate_rules_events_pending", "Alarm transitions waiting to be written",
            registry=registry,
        )  # fmt: skip
        self.eval_seconds = Histogram(
            "citygate_rules_batch_seconds", "Time to evaluate one committed batch",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=registry,
        )  # fmt: skip
        self.rules = Gauge("citygate_rules_active", "Enabled rules", registry=registry)
        self.slots = Gauge(
            "citygate_rules_slots", "(condition, device) pairs being evaluated", registry=registry
        )


class RulesEngine:
    """``await engine.run()`` in the service's task group; ``engine.ready`` is set once
    the state is rebuilt and live evaluation has started."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        profiles: ProfileRegistry,
        feed: CommitFeed,
        config: EngineConfig,
        registry: CollectorRegistry | None = None,
        actions: ActionSink | None = None,
    ) -> None:
        self._pool = pool
        self._profiles = profiles
        self._feed = feed
        self.config = config
        self.metrics = EngineMetrics(registry or CollectorRegistry())
        self._actions = actions
        self.evaluator: Evaluator | None = None
        self._rules: dict[tuple[int, int], RuleRecord] = {}
        self._held: list[Committed] | None = []
        self._held_readings = 0
        self._queue: asyncio.Queue[AlarmEvent] = asyncio.Queue(config.max_pending_events)
        self._changed = asyncio.Event()
        self._listening = asyncio.Event()
        self.ready = asyncio.Event()
        self.written = 0
        self._writing = False

    @property
    def idle(self) -> bool:
        """Nothing waits to be written and nothing is being written."""
        return self._queue.empty() and not self._writing and self._held is None

    # -- the feed ----------------------------------------------------------------------
    def _on_commit(self, c: Committed) -> None:
        if self._held is not None:
            if self._held_readings + len(c) > self.config.max_held_readings:
                log.error("rules: %d readings committed during a rebuild are not evaluated "
                          "(more than %d held)", len(c), self.config.max_held_readings)  # fmt: skip
                self.metrics.unevaluated.inc(len(c))
                return
            self._held.append(c)
            self._held_readings += len(c)
            return
        self._evaluate(c)

    def _evaluate(self, c: Committed) -> None:
        ev = self.evaluator
        assert ev is not None
        started = time.perf_counter()
        before_eval, before_skip = ev.evaluated, ev.skipped
        events = ev.feed(c)
        self.metrics.eval_seconds.observe(time.perf_counter() - started)
        self.metrics.evaluated.inc(ev.evaluated - before_eval)
        self.metrics.skipped.inc(ev.skipped - before_skip)
        self._enqueue(events)

    def _enqueue(self, events: list[AlarmEvent]) -> None:
        for e in events:
            try:
                self._queue.put_nowait(e)
            except asyncio.QueueFull:
                self.metrics.dropped.inc()
                log.error("rules: alarm write queue full; dropped %s of rule %d for %s",
                          e.kind, e.rule_id, e.subject)  # fmt: skip
        self.metrics.pending.set(self._queue.qsize())

    # -- the service -------------------------------------------------------------------
    async def run(self) -> None:
        """Rebuild, then evaluate live, write alarms, run timers and follow changes."""
        unsubscribe = self._feed.subscribe("rules-engine", self._on_commit)
        try:
            async with self._pool.acquire() as conn:
                self._metric_ids = await ensure_metrics(
                    conn, {m for p in self._profiles for m in p.metrics}
                )
            async with asyncio.TaskGroup() as tg:
                # Listen first, then load: a change in between is not missed, and the
                # first load is not followed by a second one for nothing.
                tg.create_task(self._follow(), name="rules-follow-changes")
                await self._listening.wait()
                await self._first_load()
                self.ready.set()
                tg.create_task(self._writer(), name="rules-alarm-writer")
                tg.create_task(self._ticker(), name="rules-timers")
                tg.create_task(self._reloader(), name="rules-reloader")
        finally:
            unsubscribe()

    async def _first_load(self) -> None:
        attempt = 0
        while True:
            try:
                await self._reload(first=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                # The rest of the service keeps running; rules start once this works.
                attempt += 1
                delay = min(30.0, 0.5 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.0)
                log.exception("rules: could not load rules (attempt %d); retry in %.1fs",
                              attempt, delay)  # fmt: skip
                await asyncio.sleep(delay)

    async def _reload(self, first: bool = False) -> None:
        """Load rules and devices; rebuild the state of new or changed rules."""
        async with self._pool.acquire() as conn:
            records = await list_rules(conn, enabled_only=True)
            devices = await load_devices(conn)
        now_us = time.time_ns() // 1000
        fresh = [r for r in records if (r.id, r.version) not in self._rules]
        self._held = [] if self._held is None else self._held
        try:
            async with self._pool.acquire() as conn:
                restored = await rebuild(
                    conn, [r.stored for r in fresh], devices, self._profiles, self._metric_ids,
                    now_us, int(self.config.max_lookback_s * 1e6),
                )  # fmt: skip
            ev = self.evaluator or Evaluator(self._profiles, self._metric_ids)
            ev.configure([r.stored for r in records], devices, now_us)
            adopt(ev, restored.evaluator)
            self.evaluator = ev
            self._rules = {(r.id, r.version): r for r in records}
            self.metrics.rules.set(len(records))
            self.metrics.slots.set(ev.compiled.n_slots)
            self._enqueue(restored.missed)
        finally:
            if self.evaluator is not None:  # else keep holding until a load succeeds
                held, self._held = self._held or [], None
                self._held_readings = 0
                for c in held:
                    self._evaluate(c)
        if not first:
            log.info("rules: %d rules on %d devices (%d new or changed)",
                     len(records), len(devices), len(fresh))  # fmt: skip

    def rule(self, rule_id: int, version: int) -> RuleRecord | None:
        """A loaded rule by id and version."""
        return self._rules.get((rule_id, version))

    async def _writer(self) -> None:
        while True:
            event = await self._queue.get()
            self._writing = True
            try:
                await self._write_one(event)
            finally:
                self._writing = False
            self.metrics.pending.set(self._queue.qsize())

    async def _write_one(self, event: AlarmEvent) -> None:
        record = self._rules.get((event.rule_id, event.rule_version))
        if record is None:  # a newer version is loaded: it still names the rule
            record = next((r for r in self._rules.values() if r.id == event.rule_id), None)
        if record is None:  # disabled since: its pending changes are still written
            async with self._pool.acquire() as conn:
                record = await get_rule(conn, event.rule_id)
        if record is None:
            log.info("rules: rule %d is gone; %s for %s not written",
                     event.rule_id, event.kind, event.subject)  # fmt: skip
            return
        await self._write(event, record)

    async def _write(self, event: AlarmEvent, record: RuleRecord) -> None:
        attempt = 0
        while True:
            try:
                async with self._pool.acquire() as conn:
                    alarm = await apply_event(conn, event, record.rule, self._actions)
                self.written += 1
                if alarm is not None:
                    kind = event.kind if alarm.count == 1 or event.kind == "cleared" else "repeated"
                    self.metrics.events.labels(kind).inc()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("rules: could not write %s of rule %s for %s; skipped",
                                  event.kind, record.name, event.subject)  # fmt: skip
                    return
                attempt += 1
                delay = min(10.0, 0.1 * 2 ** min(attempt, 8)) * random.uniform(0.5, 1.0)
                if attempt == 1 or attempt % 10 == 0:
                    log.warning("rules: writing alarms failed (%s); retry %d in %.1fs",
                                exc, attempt, delay)  # fmt: skip
                await asyncio.sleep(delay)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            if self.evaluator is not None and self._held is None:
                try:
                    self._enqueue(self.evaluator.tick(time.time_ns() // 1000))
                except Exception:
                    log.exception("rules: no-data timer pass failed")
            try:
                async with self._pool.acquire() as conn:
                    await escalate_due(conn, datetime.now(UTC), self._actions)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("rules: escalation pass failed (%s)", exc)
            except Exception:
                # A bug in one pass must not stop evaluation; it is logged in full.
                log.exception("rules: escalation pass failed")

    async def _reloader(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(0.2)  # let a burst of changes settle
            self._changed.clear()
            try:
                await self._reload()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("rules: reload failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                self._changed.set()
            except Exception:
                log.exception("rules: reload failed; the previous rules stay in force")
                await asyncio.sleep(5.0)
                self._changed.set()

    async def _follow(self) -> None:
        """LISTEN for rule and device changes (reconnecting), and reload after each."""
        while True:
            try:
                conn = await connect(self.config.database_url)
            except DatabaseUnavailable as exc:
                log.warning("rules: %s; retrying", exc)
                await asyncio.sleep(1.0)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in ("citygate_rules", "citygate_devices"):
                    await conn.add_listener(channel, lambda *_a: self._changed.set())
                if self._listening.is_set():
                    self._changed.set()  # a reconnect: catch up with what changed meanwhile
                self._listening.set()
                await lost.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("rules: lost the change listener (%s)", exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2.0)
            await asyncio.sleep(1.0)

    def stored_rules(self) -> list[StoredRule]:
        """The rules being evaluated."""
        return [r.stored for r in self._rules.values()]

    @property
    def devices(self) -> DeviceTable | None:
        """The devices rules are compiled against."""
        return self.evaluator.devices if self.evaluator is not None else None
