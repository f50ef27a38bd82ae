"""Retention and rollups that work on whichever TimescaleDB edition is installed.

The Apache-licensed edition (Debian's build) has hypertables, ``time_bucket`` and
``drop_chunks`` but no continuous aggregates and no policy jobs: there, the service's own
scheduled job drops old chunks. On the community ("timescale") edition, retention is
left to TimescaleDB's own retention policies instead.

Rollups (1 minute, 1 hour) are kept by this module on both editions: a reading row holds
a message's readings as arrays, and continuous aggregates cannot unnest arrays (they
allow no set-returning functions), so they could not aggregate per metric.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from .db import Conn

log = logging.getLogger(__name__)

__all__ = ["Edition", "Maintenance", "RetentionPolicy", "detect_edition"]


@dataclass(frozen=True, slots=True)
class Edition:
    """What the installed TimescaleDB can do."""

    version: str
    license: str

    @property
    def has_policies(self) -> bool:
        """Policy jobs (retention, compression) need the community ("timescale") license."""
        return self.license == "timescale"


async def detect_edition(conn: Conn) -> Edition:
    """Read the extension version and ``timescaledb.license`` from the server."""
    row = await conn.fetchrow(
        "SELECT extversion, current_setting('timescaledb.license', true) AS license "
        "FROM pg_extension WHERE extname = 'timescaledb'"
    )
    if row is None:
        raise RuntimeError("the timescaledb extension is not installed in this database")
    return Edition(version=str(row["extversion"]), license=str(row["license"] or "apache"))


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each table keeps its data."""

    readings: timedelta
    rollup_1m: timedelta
    rollup_1h: timedelta
    quarantine: timedelta

    def tables(self) -> dict[str, timedelta]:
        """Hypertable name -> retention."""
        return {
            "readings": self.readings,
            "readings_1m": self.rollup_1m,
            "readings_1h": self.rollup_1h,
            "quarantine": self.quarantine,
        }


_ROLLUP_1M = """
INSERT INTO readings_1m AS r (bucket, device_key, metric_id, count, sum, min, max, last, last_time)
SELECT time_bucket('1 minute', time) AS b, device_key, metric_id,
       count(*), sum(value), min(value), max(value), last(value, time), max(time)
FROM reading_values
WHERE time >= $1 AND time < $2
GROUP BY b, device_key, metric_id
ON CONFLICT (device_key, metric_id, bucket) DO UPDATE
SET count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
    last = excluded.last, last_time = excluded.last_time
"""

_ROLLUP_1H = """
INSERT INTO readings_1h AS r (bucket, device_key, metric_id, count, sum, min, max, last, last_time)
SELECT time_bucket('1 hour', bucket) AS b, device_key, metric_id,
       sum(count), sum(sum), min(min), max(max), last(last, last_time), max(last_time)
FROM readings_1m
WHERE bucket >= $1 AND bucket < $2
GROUP BY b, device_key, metric_id
ON CONFLICT (device_key, metric_id, bucket) DO UPDATE
SET count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
    last = excluded.last, last_time = excluded.last_time
"""


def _floor(ts: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=ts.tzinfo)
    return ts - (ts - epoch) % step


class Maintenance:
    """Rollups and retention. ``run_once`` is what the service's scheduled job calls."""

    def __init__(self, pool: asyncpg.Pool, retention: RetentionPolicy, lookback: timedelta) -> None:
        self._pool = pool
        self._retention = retention
        self._lookback = lookback
        self._edition: Edition | None = None

    async def edition(self) -> Edition:
        """The server's TimescaleDB edition (read once)."""
        if self._edition is None:
            async with self._pool.acquire() as conn:
                self._edition = await detect_edition(conn)
        return self._edition

    async def setup(self) -> None:
        """On the community edition, hand retention to TimescaleDB's policies (idempotent)."""
        edition = await self.edition()
        log.info("TimescaleDB %s (%s edition)", edition.version, edition.license)
        if not edition.has_policies:
            return
        async with self._pool.acquire() as conn:
            for table, keep in self._retention.tables().items():
                await conn.execute(
                    "SELECT add_retention_policy($1::regclass, drop_after => $2::interval, "
                    "if_not_exists => true)",
                    table,
                    keep,
                )

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One pass: refresh rollups; drop expired chunks unless TimescaleDB's policies do."""
        edition = await self.edition()
        async with self._pool.acquire() as conn:
            if now is None:
                now = await conn.fetchval("SELECT now()")
            assert now is not None
            stats = await self.refresh_rollups(conn, now)
            if not edition.has_policies:
                stats["chunks_dropped"] = await self.drop_expired(conn, now)
        return stats

    async def refresh_rollups(self, conn: Conn, now: datetime) -> dict[str, int]:
        """Recompute rollup buckets from the last watermark (minus lookback) up to ``now``.

        Readings that arrive later than the lookback (device backfill) lower the
        ``dirty_from`` mark of ``rollup_state`` in the writer's transaction, so their
        buckets are recomputed too.
        """
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT done_until, dirty_from FROM rollup_state WHERE name = 'readings' FOR UPDATE"
            )
            if row is None:
                first = await conn.fetchval("SELECT min(time) FROM readings")
                start = first if first is not None else now - self._lookback
            else:
                start = row["done_until"] - self._lookback
                if row["dirty_from"] is not None and row["dirty_from"] < start:
                    start = row["dirty_from"]
            lo_1m = _floor(start, timedelta(minutes=1))
            lo_1h = _floor(start, timedelta(hours=1))
            status_1m = await conn.execute(_ROLLUP_1M, lo_1m, now)
            status_1h = await conn.execute(_ROLLUP_1H, lo_1h, now)
            # Backfill recomputed: rows that were final have changed, a new generation.
            await conn.execute(
                "INSERT INTO rollup_state (name, done_until) VALUES ('readings', $1) "
                "ON CONFLICT (name) DO UPDATE SET done_until = excluded.done_until, "
                "dirty_from = NULL, generation = rollup_state.generation "
                "+ (rollup_state.dirty_from IS NOT NULL)::int",
                now,
            )
        return {
            "buckets_1m": int(status_1m.split()[-1]),
            "buckets_1h": int(status_1h.split()[-1]),
        }

    async def drop_expired(self, conn: Conn, now: datetime) -> int:
        """Drop chunks older than each table's retention; returns how many were dropped."""
        dropped = 0
        rollups_dropped = False
        for table, keep in self._retention.tables().items():
            rows = await conn.fetch(
                "SELECT drop_chunks($1::regclass, older_than => $2::timestamptz)",
                table,
                now - keep,
            )
            if rows:
                log.info("retention: dropped %d chunks of %s", len(rows), table)
                rollups_dropped = rollups_dropped or table in ("readings_1m", "readings_1h")
            dropped += len(rows)
        if rollups_dropped:  # final rollup rows are gone: their answers are too
            await conn.execute(
                "UPDATE rollup_state SET generation = generation + 1 WHERE name = 'readings'"
            )
        return dropped
