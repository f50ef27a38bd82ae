"""Row layout benchmark: how fast TimescaleDB takes the same readings as a row per
reading (narrow) or a row per message (a column per metric, or arrays).

This is the measurement behind the choice of the ``readings`` layout
(docs/architecture.md). Rows are generated server-side, so only the insert is timed.
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg

from .env import bench_database

MESSAGES = 40_000  # of six readings each

_TABLES = {
    "narrow (row per reading)": (
        "CREATE TABLE t (time timestamptz NOT NULL, device_key int NOT NULL, "
        "metric_id smallint NOT NULL, value float8 NOT NULL, state text, "
        "received_at timestamptz NOT NULL, PRIMARY KEY (device_key, metric_id, time))",
        "INSERT INTO t SELECT now() - interval '2 hours' + (i / 6) * interval '1 ms', "
        "(i / 6) % 1000, i % 6, random(), NULL, now() FROM generate_series(0, $1 * 6 - 1) i",
    ),
    "wide (column per metric)": (
        "CREATE TABLE t (time timestamptz NOT NULL, device_key int NOT NULL, "
        "received_at timestamptz NOT NULL, v1 float8, v2 float8, v3 float8, v4 float8, "
        "v5 float8, v6 float8, PRIMARY KEY (device_key, time))",
        "INSERT INTO t SELECT now() - interval '2 hours' + i * interval '1 ms', i % 1000, "
        "now(), random(), random(), random(), random(), random(), random() "
        "FROM generate_series(0, $1 - 1) i",
    ),
    "arrays (citygate)": (
        "CREATE TABLE t (time timestamptz NOT NULL, device_key int NOT NULL, "
        "metric_ids smallint[] NOT NULL, vals float8[] NOT NULL, states text[], "
        "received_at timestamptz NOT NULL, PRIMARY KEY (device_key, time))",
        "INSERT INTO t SELECT now() - interval '2 hours' + i * interval '1 ms', i % 1000, "
        "'{1,2,3,4,5,6}', ARRAY[random(), random(), random(), random(), random(), random()], "
        "NULL, now() FROM generate_series(0, $1 - 1) i",
    ),
}


async def main() -> int:
    """Insert the same readings in each layout three times; print the best rate."""
    print("command: python -m bench.row_layout")
    async with bench_database([]) as url:
        conn = await asyncpg.connect(url)
        try:
            for name, (ddl, insert) in _TABLES.items():
                best = float("inf")
                for _ in range(3):
                    await conn.execute("DROP TABLE IF EXISTS t")
                    await conn.execute(ddl)
                    await conn.execute("SELECT create_hypertable('t', 'time')")
                    started = time.perf_counter()
                    await conn.execute(insert, MESSAGES)
                    best = min(best, time.perf_counter() - started)
                print(
                    f"{name:<26} {MESSAGES:,} messages ({MESSAGES * 6:,} readings) in "
                    f"{best:.2f} s = {MESSAGES / best:>9,.0f} msg/s, "
                    f"{MESSAGES * 6 / best:>9,.0f} readings/s"
                )
        finally:
            await conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
