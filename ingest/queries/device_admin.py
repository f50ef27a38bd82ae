"""Operator changes to single devices (create, read for update, delete) on top of the
registry's ``upsert_devices``, so the API and the command line store devices alike."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..db import Conn
from ..devices import DeviceRecord, upsert_devices

__all__ = ["create_device", "delete_device", "known_districts", "record_of"]


_RECORD = (
    "SELECT id, profile, name, ST_Y(location) AS lat, ST_X(location) AS lon, district, "
    "tags, enabled, credentials_ref, attributes::text AS attributes FROM devices WHERE id = $1"
)
_RECORD_FOR_UPDATE = _RECORD + " FOR UPDATE"


async def record_of(conn: Conn, device_id: str, *, lock: bool = False) -> DeviceRecord | None:
    """A stored device as the record that would recreate it; ``lock`` takes a row lock
    (inside a transaction) so a read-modify-write cannot lose a concurrent change."""
    r = await conn.fetchrow(_RECORD_FOR_UPDATE if lock else _RECORD, device_id)
    if r is None:
        return None
    return DeviceRecord(
        id=r["id"], profile=r["profile"], name=r["name"], lat=r["lat"], lon=r["lon"],
        district=r["district"], tags=list(r["tags"]), enabled=r["enabled"],
        credentials_ref=r["credentials_ref"], attributes=json.loads(r["attributes"]),
    )  # fmt: skip


async def create_device(conn: Conn, record: DeviceRecord) -> bool:
    """Store a new device; False (nothing changed) when the id is taken."""
    async with conn.transaction():
        # Two creates of one id wait for each other here, so exactly one of them succeeds.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('device:' || $1))", record.id)
        if await conn.fetchval("SELECT 1 FROM devices WHERE id = $1", record.id):
            return False
        await upsert_devices(conn, [record])
    return True


async def delete_device(conn: Conn, device_id: str) -> bool:
    """Remove a device from the registry (its stored readings stay until retention)."""
    status = await conn.execute("DELETE FROM devices WHERE id = $1", device_id)
    return not status.endswith(" 0")


async def known_districts(conn: Conn, device_ids: Sequence[str]) -> dict[str, str | None]:
    """The current district of each of ``device_ids`` that exists."""
    rows = await conn.fetch(
        "SELECT id, district FROM devices WHERE id = ANY($1::text[])", list(device_ids)
    )
    return {str(r["id"]): r["district"] for r in rows}
