"""History queries: time-bucketed aggregates of one metric over one device or an area, and
raw readings, for the open data API.

Aggregates come from the 1-minute/1-hour rollups where those are complete and final, and
from raw readings for the rest (the edges of the range, the minutes not rolled up yet,
backfill waiting for the next pass), merged per bucket, so a result always equals
aggregating the raw readings (``docs/api.md``). Every query binds its values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ..db import Conn
from .bucket_sql import ROLLUP_GRAIN_S, bucketed_sql, points_sql
from .buckets import ORIGIN, BucketPlan, from_us

__all__ = [
    "LATE_MARGIN",
    "ROLLUP_STATE_COLUMNS",
    "Bucket",
    "DeviceContext",
    "bucket_points_json",
    "bucket_rows",
    "device_context",
    "iter_raw_readings",
    "next_reading_time",
    "raw_readings",
    "safe_until",
]

# The batch writer marks readings older than its backfill horizon (BatchWriter's
# ``backfill_horizon_s``, one hour) in ``rollup_state.dirty_from``; younger late readings
# are only picked up by the next maintenance pass. So the hour before the watermark may
# still miss some readings: read it raw. Five minutes more cover a batch that was being
# written while the pass ran.
LATE_MARGIN = timedelta(hours=1, minutes=5)


def safe_until(done_until: datetime | None, dirty_from: datetime | None) -> datetime | None:
    """Rollups are complete and final for readings before this time (None: no rollups),
    given ``rollup_state``'s watermark and backfill mark."""
    if done_until is None:
        return None
    until = done_until - LATE_MARGIN
    return until if dirty_from is None else min(until, dirty_from)


_STATE = "(SELECT {0} FROM rollup_state WHERE name = 'readings') AS {0}"
ROLLUP_STATE_COLUMNS = ", ".join(
    _STATE.format(c) for c in ("done_until", "dirty_from", "generation")
)


async def rolled_until(conn: Conn) -> datetime | None:
    """:func:`safe_until` of the stored rollup state."""
    row = await conn.fetchrow(f"SELECT {ROLLUP_STATE_COLUMNS}")
    assert row is not None
    return safe_until(row["done_until"], row["dirty_from"])


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What a history query of one device needs first, in one round trip."""

    device_key: int
    profile: str
    district: str | None
    received_at: datetime | None  # when its newest reading was stored: the data's version
    rolled_until: datetime | None
    # Changes when final rollup rows do (backfill recomputed, retention): the version of
    # answers the rollups give alone (``BucketPlan.final``).
    rollup_generation: int = 0


async def device_context(conn: Conn, device_id: str) -> DeviceContext | None:
    """The device, the version of its data and the rollup watermark; None if unknown."""
    r = await conn.fetchrow(
        "SELECT d.device_key, d.profile, d.district, l.received_at, "  # noqa: S608 - constants
        f"{ROLLUP_STATE_COLUMNS} FROM devices d "
        "LEFT JOIN latest l ON l.device_key = d.device_key WHERE d.id = $1",
        device_id,
    )
    if r is None:
        return None
    return DeviceContext(
        r["device_key"], r["profile"], r["district"], r["received_at"],
        safe_until(r["done_until"], r["dirty_from"]), r["generation"] or 0,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregates of one bucket. ``last`` is the newest reading (a state's index)."""

    time: datetime
    count: int
    sum: float
    min: float
    max: float
    last: float
    devices: int


def _table(plan: BucketPlan) -> str:
    return "readings_1h" if plan.rollup == "1h" else "readings_1m"


def _flat(device_keys: Sequence[int], plan: BucketPlan, table: str) -> bool:
    """One device, and buckets that are the rollup's own (or no rollup part at all)."""
    return len(device_keys) == 1 and (
        plan.rollup is None or plan.width_us == ROLLUP_GRAIN_S[table] * 1_000_000
    )


def _args(device_keys: Sequence[int], metric_id: int, plan: BucketPlan) -> list[object]:
    return [
        list(device_keys), metric_id, timedelta(microseconds=plan.width_us), ORIGIN,
        from_us(plan.start_us), from_us(plan.end_us), from_us(plan.roll_lo_us),
        from_us(plan.roll_hi_us),
    ]  # fmt: skip


async def bucket_rows(
    conn: Conn,
    device_keys: Sequence[int],
    metric_id: int,
    plan: BucketPlan,
    *,
    devices: bool = True,
) -> list[Bucket]:
    """The buckets of ``plan`` that hold readings, oldest first. Without ``devices``
    a bucket's ``devices`` is 1 (it is only worth counting over an area)."""
    table = _table(plan)
    sql = bucketed_sql(table, devices=devices, flat=_flat(device_keys, plan, table))
    rows = await conn.fetch(f"{sql} ORDER BY b", *_args(device_keys, metric_id, plan))
    return [
        Bucket(r["b"], r["count"], r["sum"], r["min"], r["max"], r["last"],
               r["devices"] if devices else 1)
        for r in rows
    ]  # fmt: skip


async def bucket_points_json(
    conn: Conn,
    device_keys: Sequence[int],
    metric_id: int,
    plan: BucketPlan,
    aggregates: Sequence[str],
    states: Sequence[str] | None = None,
) -> str:
    """The buckets of ``plan`` as a JSON array of points (``time`` and the named
    ``aggregates``; ``last`` as a state name when ``states`` is given), oldest first."""
    table = _table(plan)
    sql = points_sql(table, tuple(aggregates), states is not None, _flat(device_keys, plan, table))
    args = _args(device_keys, metric_id, plan)
    if states is not None:
        args.append(list(states))
    text: str = await conn.fetchval(sql, *args)
    return text


_RAW = """
SELECT r.time, r.vals[x.i] AS value, r.states[x.i] AS state
FROM readings r
CROSS JOIN LATERAL (SELECT array_position(r.metric_ids, $2::smallint) AS i) x
WHERE r.device_key = $1 AND r.metric_ids @> ARRAY[$2::smallint]
  AND r.time >= $3 AND r.time < $4
ORDER BY r.time
LIMIT $5
"""


async def raw_readings(
    conn: Conn, device_key: int, metric_id: int, start: datetime, end: datetime, limit: int
) -> list[asyncpg.Record]:
    """Up to ``limit`` readings (time, value, state) in [start, end), oldest first."""
    return await conn.fetch(_RAW, device_key, metric_id, start, end, limit)


async def next_reading_time(
    conn: Conn, device_key: int, metric_id: int, start: datetime, end: datetime, skip: int
) -> datetime | None:
    """The time of the reading after the first ``skip`` of [start, end), or None."""
    t: datetime | None = await conn.fetchval(
        "SELECT r.time FROM readings r WHERE r.device_key = $1 "
        "AND r.metric_ids @> ARRAY[$2::smallint] AND r.time >= $3 AND r.time < $4 "
        "ORDER BY r.time OFFSET $5 LIMIT 1",
        device_key, metric_id, start, end, skip,
    )  # fmt: skip
    return t


async def iter_raw_readings(
    conn: Conn, device_key: int, metric_id: int, start: datetime, end: datetime, limit: int
) -> AsyncIterator[asyncpg.Record]:
    """The same readings through a server-side cursor (needs a transaction): for streams."""
    async for r in conn.cursor(_RAW, device_key, metric_id, start, end, limit, prefetch=2000):
        yield r
