"""The readings hypertable and the batch writer: dedup, latest values, last seen."""

from __future__ import annotations

import time

import asyncpg
import pytest

from ingest.batch import Batch, QuarantineRow
from ingest.db import open_pool
from ingest.devices import DeviceRecord
from tests.support.fixtures_data import (
    add_devices,
    batch_of,
    init_staging,
    metric_ids,
    writer_for,
)


async def test_readings_is_a_hypertable(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        names = {
            r["hypertable_name"]
            for r in await conn.fetch(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            )
        }
    finally:
        await conn.close()
    assert {"readings", "quarantine", "readings_1m", "readings_1h"} <= names


async def test_repeated_reading_is_stored_once(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    mids = await metric_ids(database_url, ["pm25", "no2"])
    now_us = int(time.time() * 1e6)
    rows = [
        (now_us - 2_000_000, keys["aq-1"], mids["pm25"], 10.0),
        (now_us - 2_000_000, keys["aq-1"], mids["no2"], 20.0),
        (now_us - 1_000_000, keys["aq-1"], mids["pm25"], 11.0),
    ]
    acked: list[list[int]] = []
    async with open_pool(database_url, init=init_staging) as pool:
        writer = writer_for(pool)
        first = batch_of(rows, now_us)
        first.acks.extend([1, 2])
        first.on_commit = acked.append
        r1 = await writer.write(first)
        # The same readings again (a redelivered message), plus one inside the batch twice.
        again = batch_of([*rows, rows[0]], now_us)
        r2 = await writer.write(again)
    assert (r1.inserted, r1.duplicates) == (3, 0)
    assert (r2.inserted, r2.duplicates) == (0, 4)
    assert acked == [[1, 2]]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM reading_values") == 3
        latest = await conn.fetch(
            "SELECT m.name, l.value, l.time FROM latest_values l JOIN metrics m USING (metric_id) "
            "ORDER BY 1"
        )
        assert [(r["name"], r["value"]) for r in latest] == [("no2", 20.0), ("pm25", 11.0)]
        assert [r["time"].timestamp() for r in latest] == [
            pytest.approx((now_us - 2_000_000) / 1e6),
            pytest.approx((now_us - 1_000_000) / 1e6),
        ]
        seen = await conn.fetchval("SELECT received_at FROM latest")
        assert abs(seen.timestamp() - now_us / 1e6) < 0.001
    finally:
        await conn.close()


async def test_latest_keeps_newest_when_older_reading_arrives_late(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    mids = await metric_ids(database_url, ["pm25"])
    now_us = int(time.time() * 1e6)
    async with open_pool(database_url, init=init_staging) as pool:
        writer = writer_for(pool)
        await writer.write(batch_of([(now_us, keys["aq-1"], mids["pm25"], 5.0)], now_us))
        await writer.write(
            batch_of([(now_us - 60_000_000, keys["aq-1"], mids["pm25"], 9.0)], now_us)
        )
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT value FROM latest_values") == 5.0
        assert await conn.fetchval("SELECT count(*) FROM reading_values") == 2
    finally:
        await conn.close()


async def test_states_and_quarantine_in_one_transaction(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="ps-1", profile="parking_spot")])
    mids = await metric_ids(database_url, ["status"])
    now_us = int(time.time() * 1e6)
    batch = Batch()
    batch.add_state_row(now_us, keys["ps-1"], (mids["status"],), (1.0,), ("occupied",), now_us)
    batch.add_row(now_us - 1, keys["ps-1"], (mids["status"],), (0.0,), now_us)
    batch.quarantine.append(
        QuarantineRow(now_us, "devices/x/telemetry", "x", "unknown_device", "not registered", b"{}")
    )
    async with open_pool(database_url, init=init_staging) as pool:
        result = await writer_for(pool).write(batch)
    assert (result.inserted, result.quarantined) == (2, 1)
    conn = await asyncpg.connect(database_url)
    try:
        states = await conn.fetch("SELECT value, state FROM reading_values ORDER BY time DESC")
        assert [(r["value"], r["state"]) for r in states] == [(1.0, "occupied"), (0.0, None)]
        q = await conn.fetchrow("SELECT topic, reason_code, payload, payload_size FROM quarantine")
        assert q is not None
        assert dict(q) == {
            "topic": "devices/x/telemetry",
            "reason_code": "unknown_device",
            "payload": b"{}",
            "payload_size": 2,
        }
    finally:
        await conn.close()


async def _latest(url: str) -> dict[str, tuple[float, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT m.name, l.value, l.time FROM latest_values l JOIN metrics m USING (metric_id)"
        )
    finally:
        await conn.close()
    return {r["name"]: (r["value"], round(r["time"].timestamp() * 1e6)) for r in rows}


async def test_latest_merges_metric_by_metric_keeping_the_newer_reading(
    database_url: str,
) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    m = await metric_ids(database_url, ["pm25", "no2", "o3"])
    d = keys["aq-1"]
    t0 = int(time.time() * 1e6) - 100_000_000
    s = 1_000_000
    async with open_pool(database_url, init=init_staging) as pool:
        writer = writer_for(pool)
        await writer.write(
            batch_of([(t0 + 10 * s, d, m["pm25"], 1), (t0 + 10 * s, d, m["no2"], 2)], t0)
        )
        await writer.write(batch_of([(t0 + 20 * s, d, m["pm25"], 3)], t0))  # a subset, newer
        assert await _latest(database_url) == {
            "pm25": (3.0, t0 + 20 * s), "no2": (2.0, t0 + 10 * s),
        }  # fmt: skip
        await writer.write(batch_of([(t0, d, m["no2"], 9), (t0, d, m["o3"], 4)], t0))  # late
        assert await _latest(database_url) == {
            "pm25": (3.0, t0 + 20 * s), "no2": (2.0, t0 + 10 * s), "o3": (4.0, t0),
        }  # fmt: skip
        # Two rows of one device in one batch: each metric's newest wins.
        await writer.write(
            batch_of(
                [
                    (t0 + 30 * s, d, m["o3"], 5),
                    (t0 + 25 * s, d, m["no2"], 6),
                    (t0 + 25 * s, d, m["pm25"], 7),
                ],
                t0,
            )
        )
    assert await _latest(database_url) == {
        "pm25": (7.0, t0 + 25 * s),
        "no2": (6.0, t0 + 25 * s),
        "o3": (5.0, t0 + 30 * s),
    }
