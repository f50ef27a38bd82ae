"""Small helpers that put devices and readings into a test database."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry

from ingest.batch import Batch
from ingest.devices import DeviceRecord, ensure_metrics, upsert_devices
from ingest.metrics import WriterMetrics
from ingest.writer import STAGING_DDL, BatchWriter


async def add_devices(url: str, records: list[DeviceRecord]) -> dict[str, int]:
    """Register devices; returns id -> device_key."""
    conn = await asyncpg.connect(url)
    try:
        await upsert_devices(conn, records)
        rows = await conn.fetch("SELECT id, device_key FROM devices")
        return {r["id"]: r["device_key"] for r in rows}
    finally:
        await conn.close()


async def metric_ids(url: str, names: list[str]) -> dict[str, int]:
    """Register metric names; returns the catalogue."""
    conn = await asyncpg.connect(url)
    try:
        return await ensure_metrics(conn, names)
    finally:
        await conn.close()


async def init_staging(conn: asyncpg.Connection) -> None:
    """Pool init: the writer's per-connection staging table."""
    await conn.execute("SET client_min_messages = warning")
    await conn.execute(STAGING_DDL)


def writer_for(pool: asyncpg.Pool) -> BatchWriter:
    """A writer with its own metrics registry."""
    return BatchWriter(pool, WriterMetrics(CollectorRegistry()))


def batch_of(rows: list[tuple[int, int, int, float]], received_us: int) -> Batch:
    """A batch of (time_us, device_key, metric_id, value) readings: one row per (time,
    device), in the order given; a repeated (time, device, metric) starts a new row, as a
    redelivered message would."""
    batch = Batch()
    pending: dict[tuple[int, int], dict[int, float]] = {}
    for t, d, m, v in rows:
        row = pending.setdefault((t, d), {})
        if m in row:
            batch.add_row(t, d, tuple(row), tuple(row.values()), received_us)
            row.clear()
        row[m] = v
    for (t, d), row in pending.items():
        if row:
            batch.add_row(t, d, tuple(row), tuple(row.values()), received_us)
    return batch
