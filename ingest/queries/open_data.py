"""Queries behind the open data API's device and latest-value endpoints.

Latest values come from ``latest`` (one row per device, kept by the batch writer in the
same transaction as the readings), never from the hypertable. Filters are one constant
statement each with nullable bound parameters, so no SQL text is ever assembled from
request values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ..db import Conn
from .history import ROLLUP_STATE_COLUMNS, safe_until

__all__ = [
    "AreaDevices",
    "DeviceFilter",
    "DeviceInfo",
    "DeviceLatest",
    "area_devices",
    "count_devices",
    "device_info",
    "device_key_of",
    "device_latest",
    "latest_values",
    "list_devices_page",
]

BBox = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """Which devices: any of these profiles, any of these districts, inside a bounding box
    (``minLon, minLat, maxLon, maxLat``; minLon > maxLon crosses the antimeridian)."""

    profiles: Sequence[str] | None = None
    districts: Sequence[str] | None = None
    bbox: BBox | None = None
    status: str | None = None

    def args(self) -> tuple[object, ...]:
        """Bind values for ``_WHERE`` ($1..$7)."""
        box: Sequence[float | None] = self.bbox or (None, None, None, None)
        return (
            list(self.profiles) if self.profiles else None,
            list(self.districts) if self.districts else None,
            self.status,
            *box,
        )


_WHERE = """
    ($1::text[] IS NULL OR d.profile = ANY($1::text[]))
AND ($2::text[] IS NULL OR d.district = ANY($2::text[]))
AND ($3::text IS NULL OR d.status = $3::text)
AND ($4::float8 IS NULL OR (
        ($4 <= $6 AND d.location && ST_MakeEnvelope($4, $5, $6, $7, 4326))
     OR ($4 > $6 AND (d.location && ST_MakeEnvelope($4, $5, 180, $7, 4326)
                      OR d.location && ST_MakeEnvelope(-180, $5, $6, $7, 4326)))))
"""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as the open data API shows it (plus the operator-only fields)."""

    device_key: int
    id: str
    name: str
    profile: str
    district: str | None
    lon: float | None
    lat: float | None
    status: str
    last_seen: datetime | None
    tags: tuple[str, ...]
    enabled: bool
    credentials_ref: str | None
    attributes: str  # JSON text
    created_at: datetime
    updated_at: datetime


_DEVICE_COLUMNS = """
    d.device_key, d.id, d.name, d.profile, d.district, ST_X(d.location) AS lon,
    ST_Y(d.location) AS lat, d.status, d.last_seen, d.tags, d.enabled, d.credentials_ref,
    d.attributes::text AS attributes, d.created_at, d.updated_at
"""


def _info(r: asyncpg.Record) -> DeviceInfo:
    return DeviceInfo(
        r["device_key"], r["id"], r["name"], r["profile"], r["district"], r["lon"], r["lat"],
        r["status"], r["last_seen"], tuple(r["tags"]), r["enabled"], r["credentials_ref"],
        r["attributes"], r["created_at"], r["updated_at"],
    )  # fmt: skip


async def list_devices_page(
    conn: Conn, flt: DeviceFilter, limit: int, offset: int
) -> list[DeviceInfo]:
    """One page of devices matching ``flt``, ordered by id."""
    rows = await conn.fetch(
        f"SELECT {_DEVICE_COLUMNS} FROM devices d WHERE {_WHERE} "  # noqa: S608 - constants
        "ORDER BY d.id LIMIT $8 OFFSET $9",
        *flt.args(),
        limit,
        offset,
    )
    return [_info(r) for r in rows]


async def count_devices(conn: Conn, flt: DeviceFilter) -> int:
    """How many devices match ``flt``."""
    n = await conn.fetchval(
        f"SELECT count(*) FROM devices d WHERE {_WHERE}",  # noqa: S608 - constants
        *flt.args(),
    )
    return int(n or 0)


async def device_info(conn: Conn, device_id: str) -> DeviceInfo | None:
    """One device by id, or None."""
    r = await conn.fetchrow(
        f"SELECT {_DEVICE_COLUMNS} FROM devices d WHERE d.id = $1",  # noqa: S608 - constants
        device_id,
    )
    return None if r is None else _info(r)


async def device_key_of(conn: Conn, device_id: str) -> tuple[int, str, str | None] | None:
    """(device_key, profile, district) of a device, or None."""
    r = await conn.fetchrow(
        "SELECT device_key, profile, district FROM devices WHERE id = $1", device_id
    )
    return None if r is None else (r["device_key"], r["profile"], r["district"])


@dataclass(frozen=True, slots=True)
class DeviceLatest:
    """The newest reading of each metric of one device (parallel tuples)."""

    id: str
    profile: str
    district: str | None
    lon: float | None
    lat: float | None
    time: datetime
    received_at: datetime
    metric_ids: tuple[int, ...]
    values: tuple[float, ...]
    states: tuple[str | None, ...] | None
    times: tuple[datetime, ...] | None  # None: every reading is at ``time``


_LATEST = f"""
SELECT d.id, d.profile, d.district, ST_X(d.location) AS lon, ST_Y(d.location) AS lat,
       l.time, l.received_at, l.metric_ids, l.vals, l.states, l.times
FROM latest l JOIN devices d ON d.device_key = l.device_key
WHERE {_WHERE} AND ($8::smallint[] IS NULL OR l.metric_ids && $8::smallint[])
ORDER BY d.id
"""  # noqa: S608 - constant SQL fragments


def _latest(r: asyncpg.Record) -> DeviceLatest:
    states = r["states"]
    times = r["times"]
    return DeviceLatest(
        r["id"], r["profile"], r["district"], r["lon"], r["lat"], r["time"], r["received_at"],
        tuple(r["metric_ids"]), tuple(r["vals"]),
        None if states is None else tuple(states), None if times is None else tuple(times),
    )  # fmt: skip


async def latest_values(
    conn: Conn, flt: DeviceFilter, metric_ids: Sequence[int] | None
) -> list[DeviceLatest]:
    """Latest readings of every matching device that reported any of ``metric_ids``."""
    rows = await conn.fetch(_LATEST, *flt.args(), list(metric_ids) if metric_ids else None)
    return [_latest(r) for r in rows]


async def device_latest(conn: Conn, device_id: str) -> DeviceLatest | None:
    """Latest readings of one device (None if it never reported)."""
    r = await conn.fetchrow(
        "SELECT d.id, d.profile, d.district, ST_X(d.location) AS lon, ST_Y(d.location) AS lat, "
        "l.time, l.received_at, l.metric_ids, l.vals, l.states, l.times "
        "FROM latest l JOIN devices d ON d.device_key = l.device_key WHERE d.id = $1",
        device_id,
    )
    return None if r is None else _latest(r)


@dataclass(frozen=True, slots=True)
class AreaDevices:
    """The devices of an area, a cheap version of their data (for ETags) and the rollup
    watermark, read in one round trip."""

    keys: tuple[int, ...]
    profiles: tuple[str, ...]
    version: tuple[Any, ...]
    rolled_until: datetime | None


async def area_devices(conn: Conn, flt: DeviceFilter) -> AreaDevices:
    """Keys of the devices matching ``flt``; the version changes whenever one of them
    stores a reading or the set of devices changes."""
    r = await conn.fetchrow(
        "SELECT coalesce(array_agg(d.device_key ORDER BY d.device_key), '{}') AS keys, "  # noqa: S608
        "coalesce(array_agg(DISTINCT d.profile), '{}') AS profiles, "
        "max(l.received_at) AS received, max(d.updated_at) AS updated, "
        f"{ROLLUP_STATE_COLUMNS} "
        f"FROM devices d LEFT JOIN latest l ON l.device_key = d.device_key WHERE {_WHERE}",
        *flt.args(),
    )
    assert r is not None
    keys = tuple(r["keys"])
    return AreaDevices(
        keys,
        tuple(sorted(r["profiles"])),
        (keys, r["received"], r["updated"]),
        safe_until(r["done_until"], r["dirty_from"]),
    )
