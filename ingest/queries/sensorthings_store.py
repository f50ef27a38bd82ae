"""Writes the SensorThings API makes: single readings (POSTed Observations), corrections
and deletions of readings, and device locations.

Readings keep the natural key (device, metric, time): a reading that exists is never
overwritten by a POST (the caller gets a conflict), a new metric at an existing device
time joins that row, and ``latest`` is kept right in the same transaction (new readings
merge through :data:`ingest.latest.MERGE_LATEST`; a corrected or deleted reading that was
the newest of its metric is replaced by the next newest). Every change marks the rollups
dirty from its time so the maintenance job recomputes those buckets.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..batch import Batch
from ..copy_binary import encode_latest
from ..db import Conn
from ..latest import LATEST_DDL, MERGE_LATEST, newest_per_device

__all__ = [
    "NewReading",
    "delete_reading",
    "insert_readings",
    "mark_rollups_dirty",
    "update_reading",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class NewReading:
    """One reading to store; ``state`` is the state name of a categorical metric."""

    device_key: int
    metric_id: int
    time: datetime
    value: float
    state: str | None

    @property
    def time_us(self) -> int:
        """Microseconds since 1970."""
        return (self.time - _EPOCH) // _MICROSECOND


_LOCK_ROW = "SELECT metric_ids FROM readings WHERE device_key = $1 AND time = $2 FOR UPDATE"
_INSERT_ROW = """
INSERT INTO readings (time, device_key, metric_ids, vals, states, received_at)
VALUES ($1, $2, $3::int2[], $4::float8[], $5::text[], now())
ON CONFLICT (device_key, time) DO NOTHING
RETURNING 1
"""
_APPEND = """
UPDATE readings SET
    metric_ids = metric_ids || $3::int2[],
    vals = vals || $4::float8[],
    states = CASE WHEN states IS NULL AND $5::text[] IS NULL THEN NULL
        ELSE coalesce(states, array_fill(NULL::text, ARRAY[cardinality(metric_ids)]))
             || coalesce($5::text[], array_fill(NULL::text, ARRAY[cardinality($3::int2[])]))
        END
WHERE device_key = $1 AND time = $2
"""


async def mark_rollups_dirty(conn: Conn, since: datetime) -> None:
    """Have the next maintenance pass recompute rollups from ``since``."""
    await conn.execute(
        "UPDATE rollup_state SET dirty_from = least(coalesce(dirty_from, $1), $1) "
        "WHERE name = 'readings'",
        since,
    )


async def insert_readings(conn: Conn, readings: list[NewReading]) -> list[str | None]:
    """Store readings in the caller's transaction; per reading None when stored, else
    why not. ``latest`` and the rollup mark are updated for what was stored."""
    results: list[str | None] = [None] * len(readings)
    groups: dict[tuple[int, datetime], list[int]] = {}
    for i, r in enumerate(readings):
        groups.setdefault((r.device_key, r.time), []).append(i)
    stored: list[NewReading] = []
    for (device_key, t), idx in groups.items():
        fresh: list[int] = []
        seen: set[int] = set()
        for i in idx:
            if readings[i].metric_id in seen:
                results[i] = "the same datastream and phenomenonTime appear twice in the request"
            else:
                seen.add(readings[i].metric_id)
                fresh.append(i)
        while True:
            row = await conn.fetchrow(_LOCK_ROW, device_key, t)
            existing = set(row["metric_ids"]) if row is not None else set()
            new = [i for i in fresh if readings[i].metric_id not in existing]
            for i in fresh:
                if readings[i].metric_id in existing:
                    results[i] = "an observation of this datastream at this phenomenonTime exists"
            if not new:
                break
            args = _arrays([readings[i] for i in new])
            if row is not None:
                await conn.execute(_APPEND, device_key, t, *args)
                break
            if await conn.fetchval(_INSERT_ROW, t, device_key, *args) is not None:
                break
            # Another writer created the row meanwhile: lock it and merge into it.
        stored += [readings[i] for i in fresh if results[i] is None]
    if stored:
        await _merge_latest(conn, stored)
        await mark_rollups_dirty(conn, min(r.time for r in stored))
    return results


def _arrays(rs: list[NewReading]) -> tuple[list[int], list[float], list[str | None] | None]:
    states = [r.state for r in rs]
    return (
        [r.metric_id for r in rs],
        [r.value for r in rs],
        states if any(s is not None for s in states) else None,
    )


async def _merge_latest(conn: Conn, readings: list[NewReading]) -> None:
    batch = Batch()
    for r in readings:
        if r.state is None:
            batch.add_row(r.time_us, r.device_key, (r.metric_id,), (r.value,), r.time_us)
        else:
            batch.add_state_row(
                r.time_us, r.device_key, (r.metric_id,), (r.value,), (r.state,), r.time_us
            )
    await conn.execute("SET LOCAL client_min_messages = warning")
    await conn.execute(LATEST_DDL)
    data = encode_latest(newest_per_device(batch).values())
    await conn.copy_to_table(
        "citygate_latest", schema_name="pg_temp", source=io.BytesIO(data), format="binary"
    )
    await conn.execute(MERGE_LATEST)
    # received_at in latest is the arrival of the newest stored message: now, not the
    # device time the batch above carries.
    await conn.execute(
        "UPDATE latest SET received_at = greatest(received_at, now()) "
        "WHERE device_key = ANY ($1::int4[])",
        sorted({r.device_key for r in readings}),
    )


_POSITION = "array_position(metric_ids, $3::int2)"


async def update_reading(
    conn: Conn, device_key: int, metric_id: int, t: datetime, value: float, state: str | None
) -> bool:
    """Correct one stored reading's value; False when there is no such reading."""
    status = await conn.execute(
        f"UPDATE readings SET vals[{_POSITION}] = $4, "  # noqa: S608 - constant fragment
        f"states = CASE WHEN $5::text IS NULL AND states IS NULL THEN NULL ELSE "
        f"(SELECT array_agg(CASE WHEN o = {_POSITION} THEN $5::text ELSE s END ORDER BY o) "
        f"FROM unnest(coalesce(states, array_fill(NULL::text, ARRAY[cardinality(metric_ids)]))) "
        f"WITH ORDINALITY AS u(s, o)) END "
        f"WHERE device_key = $1 AND time = $2 AND $3::int2 = ANY (metric_ids)",
        device_key,
        t,
        metric_id,
        value,
        state,
    )
    if status.endswith(" 0"):
        return False
    await _repair_latest(conn, device_key, metric_id, t)
    await mark_rollups_dirty(conn, t)
    return True


async def delete_reading(conn: Conn, device_key: int, metric_id: int, t: datetime) -> bool:
    """Delete one stored reading (and its row once it holds no reading); False when
    there is no such reading."""
    row = await conn.fetchrow(
        "SELECT metric_ids FROM readings WHERE device_key = $1 AND time = $2 FOR UPDATE",
        device_key,
        t,
    )
    if row is None or metric_id not in row["metric_ids"]:
        return False
    if len(row["metric_ids"]) == 1:
        await conn.execute(
            "DELETE FROM readings WHERE device_key = $1 AND time = $2", device_key, t
        )
    else:
        keep = "FROM unnest({0}) WITH ORDINALITY AS u(x, o) WHERE o <> " + _POSITION
        await conn.execute(
            "UPDATE readings SET "  # noqa: S608 - constant fragments
            f"vals = ARRAY(SELECT x {keep.format('vals')} ORDER BY o), "
            f"states = CASE WHEN states IS NULL THEN NULL "
            f"ELSE ARRAY(SELECT x {keep.format('states')} ORDER BY o) END, "
            f"metric_ids = ARRAY(SELECT x {keep.format('metric_ids')} ORDER BY o) "
            "WHERE device_key = $1 AND time = $2",
            device_key,
            t,
            metric_id,
        )
    await _repair_latest(conn, device_key, metric_id, t)
    await mark_rollups_dirty(conn, t)
    return True


async def _repair_latest(conn: Conn, device_key: int, metric_id: int, t: datetime) -> None:
    """If the changed reading was its metric's newest, put the newest stored one in its
    place (or drop the metric from ``latest`` when none is left)."""
    row = await conn.fetchrow(
        "SELECT time, metric_ids, vals, states, times FROM latest WHERE device_key = $1 FOR UPDATE",
        device_key,
    )
    if row is None or metric_id not in row["metric_ids"]:
        return
    mids = list(row["metric_ids"])
    i = mids.index(metric_id)
    times = list(row["times"]) if row["times"] is not None else [row["time"]] * len(mids)
    if times[i] != t:
        return
    vals = list(row["vals"])
    states = list(row["states"]) if row["states"] is not None else [None] * len(mids)
    newest = await conn.fetchrow(
        f"SELECT time, vals[{_POSITION}] AS v, states[{_POSITION}] AS s FROM readings "  # noqa: S608
        "WHERE device_key = $1 AND time <= $2 AND $3::int2 = ANY (metric_ids) "
        "ORDER BY time DESC LIMIT 1",
        device_key,
        t,
        metric_id,
    )
    if newest is None:
        for arr in (mids, vals, states, times):
            del arr[i]
    else:
        times[i], vals[i], states[i] = newest["time"], newest["v"], newest["s"]
    if not mids:
        await conn.execute("DELETE FROM latest WHERE device_key = $1", device_key)
        return
    top = max(times)
    await conn.execute(
        "UPDATE latest SET time = $2, metric_ids = $3, vals = $4, states = $5, times = $6 "
        "WHERE device_key = $1",
        device_key,
        top,
        mids,
        vals,
        states if any(s is not None for s in states) else None,
        None if all(x == top for x in times) else times,
    )
