"""The batch writer: one transaction per batch.

1. Binary COPY of the batch's rows straight into ``readings`` inside a savepoint: the fast
   path. If a row is already stored (a redelivered message), the savepoint is rolled
   back, the rows go to a per-connection temporary staging table and are merged from
   there, adding only the (device, metric, time) readings not stored yet.
2. Latest values: the newest reading per (device, metric) of the batch, one row per
   device, COPY'd to a temporary table and merged into ``latest``.
3. Quarantine rows.
Acknowledgements run only after the commit.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from .batch import Batch
from .copy_binary import encode_latest, encode_rows
from .latest import LATEST_DDL, MERGE_LATEST, newest_per_device
from .metrics import WriterMetrics

log = logging.getLogger(__name__)

__all__ = ["STAGING_DDL", "BatchWriter", "WriteResult", "is_transient"]

STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS citygate_staging "
    "(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; " + LATEST_DDL
)

_FLAT = """
    SELECT s.device_key, s.time, u.m, u.v, u.st, s.received_at
    FROM pg_temp.citygate_staging s
    CROSS JOIN LATERAL unnest(
        s.metric_ids, s.vals,
        coalesce(s.states, array_fill(NULL::text, ARRAY[cardinality(s.metric_ids)]))
    ) AS u(m, v, st)
"""

_NULL_STATES = "array_fill(NULL::text, ARRAY[cardinality({0}.metric_ids)])"

# The slow path, for batches holding readings that are already stored. Returns how many
# readings were new. Every sub-statement sees the table as it was before the INSERT.
_MERGE = f"""
WITH flat AS (
    SELECT DISTINCT ON (device_key, time, m) * FROM ({_FLAT}) f
    ORDER BY device_key, time, m, received_at
), known AS (
    SELECT count(*) AS n FROM flat f
    JOIN readings r ON r.device_key = f.device_key AND r.time = f.time
    WHERE f.m = ANY (r.metric_ids)
), merged AS (
    SELECT time, device_key, array_agg(m ORDER BY m) AS metric_ids,
           array_agg(v ORDER BY m) AS vals,
           CASE WHEN bool_or(st IS NOT NULL) THEN array_agg(st ORDER BY m) END AS states,
           min(received_at) AS received_at
    FROM flat GROUP BY device_key, time
), ins AS (
    INSERT INTO readings AS r (time, device_key, metric_ids, vals, states, received_at)
    SELECT time, device_key, metric_ids, vals, states, received_at FROM merged
    ON CONFLICT (device_key, time) DO UPDATE SET
        metric_ids = r.metric_ids || ARRAY(
            SELECT x FROM unnest(excluded.metric_ids) AS x WHERE x <> ALL (r.metric_ids)),
        vals = r.vals || ARRAY(
            SELECT v FROM unnest(excluded.metric_ids, excluded.vals) AS e(x, v)
            WHERE x <> ALL (r.metric_ids)),
        states = CASE WHEN r.states IS NULL AND excluded.states IS NULL THEN NULL
            ELSE coalesce(r.states, {_NULL_STATES.format("r")}) || ARRAY(
                SELECT st FROM unnest(
                    excluded.metric_ids,
                    coalesce(excluded.states, {_NULL_STATES.format("excluded")})
                ) AS e(x, st)
                WHERE x <> ALL (r.metric_ids))
            END
    WHERE NOT (excluded.metric_ids <@ r.metric_ids)
)
SELECT (SELECT count(*) FROM flat) - (SELECT n FROM known)
"""  # noqa: S608 - constant SQL fragments, no values

_MARK_BACKFILL = """
UPDATE rollup_state SET dirty_from = least(coalesce(dirty_from, $1), $1)
WHERE name = 'readings'
"""

_QUARANTINE_COLUMNS = (
    "received_at",
    "topic",
    "device_id",
    "reason_code",
    "reason",
    "payload",
    "payload_size",
)

# SQLSTATE classes worth retrying: connection exceptions, insufficient resources,
# operator intervention (admin shutdown, cannot connect now), transaction rollback.
_TRANSIENT_CLASSES = ("08", "53", "57", "40")


def is_transient(exc: BaseException) -> bool:
    """True for errors that go away when the database comes back."""
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "")[:2] in _TRANSIENT_CLASSES
    return isinstance(exc, OSError | asyncpg.InterfaceError | TimeoutError)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch did."""

    readings: int
    inserted: int
    quarantined: int
    seconds: float

    @property
    def duplicates(self) -> int:
        """Readings that were already stored (redeliveries)."""
        return self.readings - self.inserted


class BatchWriter:
    """Commits batches; on a database outage it retries with jittered backoff, forever,
    holding the batch (whose messages stay unacknowledged, so the broker keeps them)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: WriterMetrics,
        *,
        backfill_horizon_s: float = 3600.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._backfill_horizon_us = int(backfill_horizon_s * 1e6)
        self._max_backoff = max_backoff_s
        self.outage = False

    async def write(self, batch: Batch) -> WriteResult:
        """Commit ``batch`` (retrying transient errors), then run its acknowledgements."""
        attempt = 0
        while True:
            try:
                result = await self._write_once(batch)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                self._metrics.write_retries.inc()
                delay = min(self._max_backoff, 0.1 * 2 ** min(attempt, 10))
                delay *= random.uniform(0.5, 1.0)
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "database write failed (%s: %s); holding %d readings and %d "
                        "acknowledgements, retry %d in %.1fs",
                        type(exc).__name__,
                        exc,
                        len(batch),
                        len(batch.acks),
                        attempt,
                        delay,
                    )
                self.outage = True
                await asyncio.sleep(delay)
        if self.outage:
            log.info("database writes resumed after %d retries", attempt)
            self.outage = False
        if batch.on_commit is not None and batch.acks:
            batch.on_commit(batch.acks)
        return result

    async def _write_once(self, batch: Batch) -> WriteResult:
        started = time.perf_counter()
        inserted = 0
        async with self._pool.acquire() as conn, conn.transaction():
            if batch.rows:
                data = encode_rows(batch.groups.values(), batch.state_rows)
                try:
                    async with conn.transaction():
                        await conn.copy_to_table("readings", source=_Bytes(data), format="binary")
                    inserted = batch.readings
                except asyncpg.UniqueViolationError:
                    # Some rows are stored already (redelivery): merge what is new.
                    await conn.copy_to_table(
                        "citygate_staging", schema_name="pg_temp", source=_Bytes(data),
                        format="binary",
                    )  # fmt: skip
                    inserted = int(await conn.fetchval(_MERGE))
                latest = encode_latest(newest_per_device(batch).values())
                await conn.copy_to_table(
                    "citygate_latest", schema_name="pg_temp", source=_Bytes(latest), format="binary"
                )
                await conn.execute(MERGE_LATEST)
                oldest = batch.oldest_us()
                if (
                    oldest is not None
                    and oldest < time.time_ns() // 1000 - self._backfill_horizon_us
                ):
                    await conn.execute(_MARK_BACKFILL, _dt(oldest))
            if batch.quarantine:
                await conn.copy_records_to_table(
                    "quarantine",
                    records=[
                        (
                            _dt(q.received_us),
                            q.topic,
                            q.device_id,
                            q.reason_code,
                            q.reason,
                            q.payload,
                            len(q.payload),
                        )
                        for q in batch.quarantine
                    ],
                    columns=_QUARANTINE_COLUMNS,
                )
        seconds = time.perf_counter() - started
        m = self._metrics
        m.readings_stored.inc(inserted)
        m.duplicates.inc(len(batch) - inserted)
        m.quarantined.inc(len(batch.quarantine))
        m.batch_size.observe(len(batch))
        m.commit_seconds.observe(seconds)
        m.max_commit_seconds = max(m.max_commit_seconds, seconds)
        if seconds > 1.0:
            log.warning(
                "slow batch: %d readings, %d quarantined, committed in %.2fs",
                batch.readings, len(batch.quarantine), seconds,
            )  # fmt: skip
        return WriteResult(len(batch), inserted, len(batch.quarantine), seconds)


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


class _Bytes:
    """An async iterable over one bytes object, for ``copy_to_table(source=...)``."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> _Bytes:
        return self

    async def __anext__(self) -> bytes:
        if not self._data:
            raise StopAsyncIteration
        data, self._data = self._data, b""
        return data
