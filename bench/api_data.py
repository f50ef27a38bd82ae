"""Benchmark data for the API: the demo fleet (``build_fleet(profiles, 300, seed=1)``, as
``citygate demo`` registers it) with N days of readings at each device's reporting
interval, generated inside PostgreSQL (``generate_series``, one statement per profile and
day, values bound as parameters), then latest values and the rollups computed the way
the service computes them (``ingest.maintenance.Maintenance``, pass after pass).

Values follow a daily cycle plus noise inside each metric's range; categorical metrics
draw a state at random. Realistic enough for query costs, not for analysis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from api.sensorthings.ids import datastream_id
from device_profiles import Profile, ProfileRegistry
from ingest.db import open_pool
from ingest.devices import ensure_metrics, upsert_devices
from ingest.maintenance import Maintenance, RetentionPolicy
from simulators.fleet import Fleet, build_fleet

__all__ = ["DataSet", "describe_fleet_history", "load_fleet_history"]


@dataclass(frozen=True, slots=True)
class DataSet:
    """What was loaded, for the report."""

    fleet: Fleet
    start: datetime
    end: datetime
    rows: int
    readings: int
    rollup_1m: int
    rollup_1h: int
    seconds: float
    # SensorThings Datastream ids of every air-quality station's pm25.
    pm25_datastreams: tuple[int, ...] = ()


def _insert_sql(profile: Profile) -> str:
    """One INSERT ... SELECT for a profile's devices over a time range. Only placeholders
    and fixed expressions go into the text; every value is a bound parameter."""
    vals: list[str] = []
    states: list[str] = []
    lateral: list[str] = []
    p = 6  # $1..$5 are taken, see ``_args``
    for i, (_name, m) in enumerate(profile.metrics.items()):
        if m.states is not None:
            lateral.append(f"floor(random() * cardinality(${p}::text[]))::int AS s{i}")
            vals.append(f"s{i}::float8")
            states.append(f"(${p}::text[])[s{i} + 1]")
            p += 1
        else:
            lo, hi = f"${p}::float8", f"${p + 1}::float8"
            wave = "0.35 * sin(extract(epoch FROM t) / 13751.0 + d.device_key)"
            noise = "0.1 * (random() - 0.5)"
            vals.append(
                f"round(greatest({lo}, least({hi}, ({lo} + {hi}) / 2 + ({hi} - {lo}) / 2 "
                f"* ({wave} + {noise})))::numeric, 1)::float8"
            )
            states.append("NULL")
            p += 2
    state_expr = f"ARRAY[{', '.join(states)}]" if lateral else "NULL"
    lat = f"CROSS JOIN LATERAL (SELECT {', '.join(lateral)}) st" if lateral else ""
    return f"""
INSERT INTO readings (time, device_key, metric_ids, vals, states, received_at)
SELECT t, d.device_key, $1::smallint[], ARRAY[{", ".join(vals)}], {state_expr},
       t + interval '2 seconds'
FROM devices d
CROSS JOIN LATERAL generate_series(
    $2::timestamptz + (d.device_key % 97) * $4::interval / 97, $3::timestamptz, $4::interval
) AS t
{lat}
WHERE d.profile = $5 AND t < $3::timestamptz
"""


def _args(profile: Profile) -> list[object]:
    out: list[object] = []
    for m in profile.metrics.values():
        if m.states is not None:
            out.append(list(m.states))
        else:
            out += [m.min, m.max]
    return out


_LATEST = """
INSERT INTO latest (device_key, time, received_at, metric_ids, vals, states, times)
SELECT d.device_key, r.time, r.received_at, r.metric_ids, r.vals, r.states, NULL
FROM devices d
CROSS JOIN LATERAL (
    SELECT * FROM readings x WHERE x.device_key = d.device_key ORDER BY x.time DESC LIMIT 1
) r
ON CONFLICT (device_key) DO NOTHING
"""


async def load_fleet_history(
    url: str, profiles: ProfileRegistry, devices: int, days: int, log: bool = True
) -> DataSet:
    """Register the fleet and store ``days`` of readings ending now; returns counts."""
    started = time.perf_counter()
    fleet = build_fleet(profiles, devices, seed=1)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    async with open_pool(url, max_size=2) as pool:
        async with pool.acquire() as conn:
            await upsert_devices(conn, fleet.records())
            mids = await ensure_metrics(conn, {m for p in profiles for m in p.metrics})
            for profile in profiles:
                sql = _insert_sql(profile)
                ids = [mids[m] for m in profile.metrics]
                step = timedelta(seconds=profile.reporting_interval_s)
                for day in range(days):
                    lo = start + timedelta(days=day)
                    await conn.execute(
                        sql, ids, lo, lo + timedelta(days=1), step, profile.name,
                        *_args(profile),
                    )  # fmt: skip
                if log:
                    print(f"  readings of {profile.name} stored", flush=True)
            await conn.execute(_LATEST)
            await conn.execute(
                "UPDATE devices d SET last_seen = l.received_at, status = 'online' "
                "FROM latest l WHERE l.device_key = d.device_key"
            )
        # Rollups as the service computes them: pass after pass (a day per pass here).
        retention = RetentionPolicy(*(timedelta(days=3650),) * 4)
        maint = Maintenance(pool, retention, lookback=timedelta(minutes=10))
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE readings")
            t = start
            while t < end:
                t = min(end, t + timedelta(days=1))
                await maint.refresh_rollups(conn, t)
        # What autovacuum does on a system that has run for a while: visibility maps set,
        # so that history reads the rollups' keys alone (index-only scans).
        for table in ("readings", "readings_1m", "readings_1h", "latest", "devices"):
            async with pool.acquire() as conn:
                await conn.execute(f"VACUUM ANALYZE {table}")
    data = await describe_fleet_history(url, profiles, devices)
    return replace(data, seconds=time.perf_counter() - started)


async def describe_fleet_history(url: str, profiles: ProfileRegistry, devices: int) -> DataSet:
    """What a database filled by :func:`load_fleet_history` holds."""
    async with open_pool(url, max_size=1) as pool, pool.acquire() as conn:
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM readings) AS rows, "
            "(SELECT sum(cardinality(metric_ids)) FROM readings) AS readings, "
            "(SELECT count(*) FROM readings_1m) AS m1, (SELECT count(*) FROM readings_1h) AS h1, "
            "(SELECT min(time) FROM readings) AS start, (SELECT max(time) FROM readings) AS end"
        )
        streams = await conn.fetch(
            "SELECT d.device_key, m.metric_id FROM devices d, metrics m "
            "WHERE d.profile = 'air_quality' AND m.name = 'pm25' ORDER BY 1"
        )
    assert counts is not None
    return DataSet(
        build_fleet(profiles, devices, seed=1), counts["start"], counts["end"],
        int(counts["rows"]), int(counts["readings"]), int(counts["m1"]), int(counts["h1"]), 0.0,
        tuple(datastream_id(r["device_key"], r["metric_id"]) for r in streams),
    )  # fmt: skip
