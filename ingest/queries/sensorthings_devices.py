"""Device and location writes the SensorThings API makes (Things and Locations).

A device's location lives in ``devices.location``; the trigger of migration 0006 keeps
``location_history``. Editing a Location edits its history row first and then the
device, so the trigger sees the point it already has and adds no row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..db import Conn

__all__ = [
    "DeviceFields",
    "create_device",
    "delete_device",
    "delete_location",
    "locate_device",
    "update_device",
    "update_location",
]


@dataclass(frozen=True, slots=True)
class DeviceFields:
    """What a Thing sets on a device (None: leave as it is, on update)."""

    name: str | None = None
    profile: str | None = None
    district: str | None = None
    tags: list[str] | None = None
    enabled: bool | None = None
    attributes: dict[str, Any] | None = None
    set_district: bool = False  # district given (possibly as null)


async def create_device(conn: Conn, device_id: str, fields: DeviceFields) -> int | None:
    """A new device; None when the id is taken."""
    try:
        key = await conn.fetchval(
            "INSERT INTO devices (id, profile, name, district, tags, enabled, attributes) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING device_key",
            device_id,
            fields.profile,
            fields.name or "",
            fields.district,
            fields.tags or [],
            True if fields.enabled is None else fields.enabled,
            json.dumps(fields.attributes or {}),
        )
    except asyncpg.UniqueViolationError:
        return None
    return int(key)


async def update_device(conn: Conn, device_key: int, fields: DeviceFields) -> None:
    """Change the given fields of a device."""
    await conn.execute(
        "UPDATE devices SET name = coalesce($2, name), profile = coalesce($3, profile), "
        "district = CASE WHEN $4 THEN $5 ELSE district END, tags = coalesce($6, tags), "
        "enabled = coalesce($7, enabled), attributes = coalesce($8::jsonb, attributes), "
        "updated_at = now() WHERE device_key = $1",
        device_key,
        fields.name,
        fields.profile,
        fields.set_district,
        fields.district,
        fields.tags,
        fields.enabled,
        None if fields.attributes is None else json.dumps(fields.attributes),
    )


async def delete_device(conn: Conn, device_key: int) -> None:
    """Delete a device with its readings, rollups, latest values and locations."""
    for table in ("readings", "readings_1m", "readings_1h"):
        await conn.execute(f"DELETE FROM {table} WHERE device_key = $1", device_key)  # noqa: S608 - constant names
    await conn.execute("DELETE FROM devices WHERE device_key = $1", device_key)


async def locate_device(
    conn: Conn, device_key: int, lon: float, lat: float, name: str | None, description: str | None
) -> int:
    """Move a device (a new history row unless it is there already); returns the id of
    its current location row, with the given name and description."""
    await conn.execute(
        "UPDATE devices SET location = ST_SetSRID(ST_MakePoint($2, $3), 4326), "
        "updated_at = now() WHERE device_key = $1",
        device_key,
        lon,
        lat,
    )
    return int(
        await conn.fetchval(
            "UPDATE location_history SET name = coalesce($2, name), "
            "description = coalesce($3, description) "
            "WHERE device_key = $1 AND current RETURNING id",
            device_key,
            name,
            description,
        )
    )


async def update_location(
    conn: Conn,
    location_id: int,
    point: tuple[float, float] | None,
    name: str | None,
    description: str | None,
) -> None:
    """Edit a location row; moving the current one moves its device too."""
    row = await conn.fetchrow(
        "UPDATE location_history SET name = coalesce($2, name), "
        "description = coalesce($3, description), "
        "location = CASE WHEN $4::float8 IS NULL THEN location "
        "ELSE ST_SetSRID(ST_MakePoint($4, $5), 4326) END "
        "WHERE id = $1 RETURNING device_key, current",
        location_id,
        name,
        description,
        point[0] if point else None,
        point[1] if point else None,
    )
    if row is not None and row["current"] and point is not None:
        await conn.execute(
            "UPDATE devices d SET location = h.location, updated_at = now() "
            "FROM location_history h WHERE h.id = $1 AND d.device_key = h.device_key",
            location_id,
        )


async def delete_location(conn: Conn, location_id: int) -> None:
    """Delete a location row; deleting the current one leaves its device without one."""
    row = await conn.fetchrow(
        "DELETE FROM location_history WHERE id = $1 RETURNING device_key, current", location_id
    )
    if row is not None and row["current"]:
        await conn.execute(
            "UPDATE devices SET location = NULL, updated_at = now() WHERE device_key = $1",
            row["device_key"],
        )
