"""The batch writer: binary COPY into a staging table, then one statement that inserts
new readings (deduplicated on the natural key), updates latest values and devices' last
seen. Quarantine rows go in the same transaction. Acknowledgements run after commit.
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
from .copy_binary import encode_readings
from .metrics import WriterMetrics

log = logging.getLogger(__name__)

__all__ = ["STAGING_DDL", "BatchWriter", "WriteResult", "is_transient"]

STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS citygate_staging "
    "(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)

_MERGE = """
WITH ins AS (
    INSERT INTO readings SELECT * FROM pg_temp.citygate_staging
    ON CONFLICT DO NOTHING
    RETURNING 1
), lat AS (
    INSERT INTO latest AS l (device_key, metric_id, time, value, state, received_at)
    SELECT DISTINCT ON (device_key, metric_id)
           device_key, metric_id, time, value, state, received_at
    FROM pg_temp.citygate_staging
    ORDER BY device_key, metric_id, time DESC
    ON CONFLICT (device_key, metric_id) DO UPDATE
    SET time = excluded.time, value = excluded.value, state = excluded.state,
        received_at = excluded.received_at
    WHERE l.time < excluded.time
), seen AS (
    UPDATE devices d SET last_seen = s.seen
    FROM (SELECT device_key, max(received_at) AS seen
          FROM pg_temp.citygate_staging GROUP BY device_key) s
    WHERE d.device_key = s.device_key AND (d.last_seen IS NULL OR d.last_seen < s.seen)
)
SELECT count(*) FROM ins
"""

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
            if batch.time_us:
                data = encode_readings(
                    batch.time_us,
                    batch.device_key,
                    batch.metric_id,
                    batch.value,
                    batch.received_us,
                    batch.states,
                )
                await conn.copy_to_table(
                    "citygate_staging", schema_name="pg_temp", source=_Bytes(data), format="binary"
                )
                inserted = int(await conn.fetchval(_MERGE))
                oldest = min(batch.time_us)
                if oldest < batch.received_us[0] - self._backfill_horizon_us:
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
