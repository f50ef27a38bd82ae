"""Retention and rollups on the installed (Apache) TimescaleDB edition."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg

from ingest.db import open_pool
from ingest.devices import DeviceRecord
from ingest.maintenance import Maintenance, RetentionPolicy
from tests.support.fixtures_data import add_devices, batch_of, init_staging, metric_ids, writer_for

RETENTION = RetentionPolicy(
    readings=timedelta(days=30),
    rollup_1m=timedelta(days=400),
    rollup_1h=timedelta(days=3650),
    quarantine=timedelta(days=30),
)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1e6)


async def _fill(url: str, times: list[datetime], received: datetime) -> None:
    keys = await add_devices(
        url, [DeviceRecord(id=f"aq-{i}", profile="air_quality") for i in range(3)]
    )
    mids = await metric_ids(url, ["pm25", "no2"])
    rng = random.Random(7)
    rows = [
        (_us(t), keys[f"aq-{d}"], mids[m], round(rng.uniform(0, 80), 3))
        for t in times
        for d in range(3)
        for m in ("pm25", "no2")
    ]
    async with open_pool(url, init=init_staging) as pool:
        await writer_for(pool).write(batch_of(rows, _us(received)))


async def test_edition_is_detected(database_url: str) -> None:
    async with open_pool(database_url) as pool:
        edition = await Maintenance(pool, RETENTION, timedelta(hours=2)).edition()
    assert edition.license == "apache"
    assert not edition.has_policies


async def test_retention_drops_old_chunks_and_keeps_new(database_url: str) -> None:
    old = [NOW - timedelta(days=60, minutes=i) for i in range(5)]
    new = [NOW - timedelta(days=1, minutes=i) for i in range(5)]
    await _fill(database_url, old + new, NOW)
    async with open_pool(database_url) as pool:
        m = Maintenance(pool, RETENTION, timedelta(hours=2))
        async with pool.acquire() as conn:
            dropped = await m.drop_expired(conn, NOW)
    check = await asyncpg.connect(database_url)
    try:
        remaining = await check.fetchval("SELECT count(*) FROM reading_values")
        oldest = await check.fetchval("SELECT min(time) FROM readings")
    finally:
        await check.close()
    assert dropped >= 1
    assert remaining == len(new) * 3 * 2
    assert oldest >= NOW - timedelta(days=2)


_DIRECT_1M = """
SELECT time_bucket('1 minute', time) AS bucket, device_key, metric_id, count(*) AS count,
       sum(value) AS sum, min(value) AS min, max(value) AS max, last(value, time) AS last
FROM reading_values GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
_DIRECT_1H = _DIRECT_1M.replace("'1 minute'", "'1 hour'")
_ROLLUP = (
    "SELECT bucket, device_key, metric_id, count, sum, min, max, last FROM {} ORDER BY 1, 2, 3"
)


def _rows(records: list[asyncpg.Record]) -> list[tuple[object, ...]]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in r.values()) for r in records]


async def test_rollups_match_direct_aggregates_including_backfill(database_url: str) -> None:
    # Three hours of readings every 20 s, received as they happen.
    times = [NOW - timedelta(seconds=20 * i) for i in range(1, 540)]
    await _fill(database_url, times, NOW)
    async with open_pool(database_url, init=init_staging) as pool:
        m = Maintenance(pool, RETENTION, lookback=timedelta(minutes=10))
        async with pool.acquire() as conn:
            stats = await m.refresh_rollups(conn, NOW)
            assert stats["buckets_1m"] > 0
            direct_1m = _rows(await conn.fetch(_DIRECT_1M))
            assert _rows(await conn.fetch(_ROLLUP.format("readings_1m"))) == direct_1m
            assert _rows(await conn.fetch(_ROLLUP.format("readings_1h"))) == _rows(
                await conn.fetch(_DIRECT_1H)
            )
        # A device backfills readings from five hours ago, far behind the lookback:
        # the writer marks them, and the next pass rolls their buckets up too.
        late = [NOW - timedelta(hours=5, seconds=7 * i) for i in range(10)]
        keys = await add_devices(database_url, [DeviceRecord(id="aq-0", profile="air_quality")])
        mids = await metric_ids(database_url, ["pm25"])
        await writer_for(pool).write(
            batch_of([(_us(t), keys["aq-0"], mids["pm25"], 42.0) for t in late], _us(NOW))
        )
        async with pool.acquire() as conn:
            await m.refresh_rollups(conn, NOW + timedelta(minutes=1))
            assert _rows(await conn.fetch(_ROLLUP.format("readings_1m"))) == _rows(
                await conn.fetch(_DIRECT_1M)
            )
            assert _rows(await conn.fetch(_ROLLUP.format("readings_1h"))) == _rows(
                await conn.fetch(_DIRECT_1H)
            )


async def _generation(conn: asyncpg.pool.PoolConnectionProxy) -> int:
    value: int = await conn.fetchval("SELECT generation FROM rollup_state WHERE name = 'readings'")
    return value


async def test_rollup_generation_counts_changes_to_final_rollups(database_url: str) -> None:
    # Passes that only move forward keep the generation: answers of final rollups stay
    # valid. Recomputed backfill and dropped rollup chunks each start a new one.
    old = [NOW - timedelta(days=60, minutes=i) for i in range(5)]
    recent = [NOW - timedelta(minutes=20 * i) for i in range(1, 6)]
    await _fill(database_url, old + recent, NOW)
    keep_rollups = RetentionPolicy(*(timedelta(days=400),) * 4)
    async with open_pool(database_url, init=init_staging) as pool:
        m = Maintenance(pool, keep_rollups, lookback=timedelta(minutes=10))
        async with pool.acquire() as conn:
            await m.refresh_rollups(conn, NOW)
            await m.refresh_rollups(conn, NOW + timedelta(minutes=1))
            assert await _generation(conn) == 0
            assert await m.drop_expired(conn, NOW) == 0
            assert await _generation(conn) == 0
        keys = await add_devices(database_url, [DeviceRecord(id="aq-0", profile="air_quality")])
        mids = await metric_ids(database_url, ["pm25"])
        backfill = NOW - timedelta(hours=5)
        await writer_for(pool).write(
            batch_of([(_us(backfill), keys["aq-0"], mids["pm25"], 1.0)], _us(NOW))
        )
        async with pool.acquire() as conn:
            assert await _generation(conn) == 0  # marked, not recomputed yet
            await m.refresh_rollups(conn, NOW + timedelta(minutes=2))
            assert await _generation(conn) == 1
            await m.refresh_rollups(conn, NOW + timedelta(minutes=3))
            assert await _generation(conn) == 1
            # Raw readings expire first: the rollups, and their answers, are unchanged.
            raw_only = RetentionPolicy(
                readings=timedelta(days=30), rollup_1m=timedelta(days=400),
                rollup_1h=timedelta(days=3650), quarantine=timedelta(days=30),
            )  # fmt: skip
            assert await Maintenance(pool, raw_only, timedelta(minutes=10)).drop_expired(conn, NOW)
            assert await _generation(conn) == 1
            short = RetentionPolicy(*(timedelta(days=30),) * 4)
            assert await Maintenance(pool, short, timedelta(minutes=10)).drop_expired(conn, NOW)
            assert await _generation(conn) == 2
