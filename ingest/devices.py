"""The device registry: create, update, disable, bulk import, and the metric catalogue."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .db import Conn
from .errors import DeviceError

log = logging.getLogger(__name__)

__all__ = [
    "DeviceRecord",
    "DeviceRow",
    "check_device_file",
    "disable_device",
    "ensure_metrics",
    "list_devices",
    "load_device_file",
    "parse_devices",
    "upsert_devices",
]

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class DeviceRecord(BaseModel):
    """A device as an operator registers it (CLI, API, import file)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=DEVICE_ID_PATTERN)
    profile: str = Field(min_length=1)
    name: str = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    district: str | None = None
    tags: list[str] = Field(default_factory=list)
    enabled: bool = True
    credentials_ref: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: object) -> object:
        if isinstance(value, str):
            return [t for t in (s.strip() for s in value.split(";")) if t]
        return value


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A registered device as the gateway caches it."""

    device_key: int
    id: str
    profile: str
    enabled: bool
    attributes: dict[str, Any]
    district: str | None
    lat: float | None
    lon: float | None


_UPSERT = """
INSERT INTO devices (id, profile, name, location, district, tags, enabled, credentials_ref,
                     attributes)
VALUES ($1, $2, $3,
        CASE WHEN $4::float8 IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint($5::float8, $4::float8), 4326) END,
        $6, $7, $8, $9, $10::jsonb)
ON CONFLICT (id) DO UPDATE SET
    profile = excluded.profile, name = excluded.name, location = excluded.location,
    district = excluded.district, tags = excluded.tags, enabled = excluded.enabled,
    credentials_ref = excluded.credentials_ref, attributes = excluded.attributes,
    updated_at = now()
"""


async def upsert_devices(conn: Conn, records: Sequence[DeviceRecord]) -> int:
    """Create or update devices by id, in one transaction; returns how many."""
    args = [
        (
            r.id,
            r.profile,
            r.name,
            r.lat if r.lon is not None else None,
            r.lon,
            r.district,
            r.tags,
            r.enabled,
            r.credentials_ref,
            json.dumps(r.attributes),
        )
        for r in records
    ]
    async with conn.transaction():
        await conn.executemany(_UPSERT, args)
    return len(args)


async def disable_device(conn: Conn, device_id: str, enabled: bool = False) -> None:
    """Disable (or re-enable) a device; its messages are then quarantined."""
    status = await conn.execute(
        "UPDATE devices SET enabled = $2, updated_at = now() WHERE id = $1", device_id, enabled
    )
    if status.endswith(" 0"):
        raise DeviceError(f"no device {device_id!r}")


async def list_devices(conn: Conn) -> list[DeviceRow]:
    """Every registered device, for the gateway's in-memory registry."""
    rows = await conn.fetch(
        "SELECT device_key, id, profile, enabled, attributes::text AS attributes, district, "
        "ST_Y(location) AS lat, ST_X(location) AS lon FROM devices"
    )
    return [_row(r) for r in rows]


async def get_device(conn: Conn, device_id: str) -> DeviceRow | None:
    """One device by id, or None."""
    r = await conn.fetchrow(
        "SELECT device_key, id, profile, enabled, attributes::text AS attributes, district, "
        "ST_Y(location) AS lat, ST_X(location) AS lon FROM devices WHERE id = $1",
        device_id,
    )
    return None if r is None else _row(r)


def _row(r: asyncpg.Record) -> DeviceRow:
    return DeviceRow(
        device_key=r["device_key"],
        id=r["id"],
        profile=r["profile"],
        enabled=r["enabled"],
        attributes=json.loads(r["attributes"]),
        district=r["district"],
        lat=r["lat"],
        lon=r["lon"],
    )


async def ensure_metrics(conn: Conn, names: Iterable[str]) -> dict[str, int]:
    """Register metric names (idempotent) and return the whole name -> id catalogue."""
    wanted = sorted(set(names))
    if wanted:
        await conn.execute(
            "INSERT INTO metrics (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING",
            wanted,
        )
    rows = await conn.fetch("SELECT name, metric_id FROM metrics")
    return {str(r["name"]): int(r["metric_id"]) for r in rows}


def load_device_file(path: Path) -> list[DeviceRecord]:
    """Read devices from a CSV (header row) or JSON (a list of objects) file.

    Every problem is reported with the row it is on; nothing is imported if any row is bad.
    """
    kind = "json" if path.suffix.lower() == ".json" else "csv"
    return parse_devices(path.read_text("utf-8"), kind, str(path))


def parse_devices(text: str, kind: str, source: str) -> list[DeviceRecord]:
    """Devices from the text of a ``kind`` ("csv" or "json") device file; ``source`` names
    it in messages. Raises :class:`DeviceError` listing the bad rows."""
    path = source
    raw: list[dict[str, Any]]
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DeviceError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, list):
            raise DeviceError(f"{path}: expected a JSON list of device objects")
        raw = data
        where = [f"{path}: item {i}" for i in range(len(raw))]
    else:
        reader = csv.DictReader(io.StringIO(text))
        try:
            raw = [{k: v for k, v in row.items() if v not in (None, "")} for row in reader]
        except csv.Error as exc:
            raise DeviceError(f"{path}:{reader.line_num}: invalid CSV: {exc}") from None
        where = [f"{path}:{i + 2}" for i in range(len(raw))]
    records: list[DeviceRecord] = []
    problems: list[str] = []
    for item, loc in zip(raw, where, strict=True):
        if isinstance(item, dict) and None in item:
            problems.append(f"{loc}: more fields than the header row names")
            continue
        if isinstance(item, dict) and isinstance(item.get("attributes"), str):
            try:
                item["attributes"] = json.loads(item["attributes"])
            except json.JSONDecodeError:
                problems.append(f"{loc}: attributes: not a JSON object")
                continue
        try:
            records.append(DeviceRecord.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "row"
            problems.append(f"{loc}: {field}: {err['msg']}")
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DeviceError(f"{len(problems)} bad device rows, nothing imported:\n{shown}{more}")
    dup = sorted(i for i, n in Counter(r.id for r in records).items() if n > 1)
    if dup:
        raise DeviceError(f"{path}: duplicate device ids: {', '.join(dup[:5])}")
    return records


def check_device_file(path: Path, known_profiles: Iterable[str]) -> list[DeviceRecord]:
    """Every row of an import file, checked, including that each profile exists."""
    records = load_device_file(path)
    profiles = set(known_profiles)
    unknown = sorted({r.profile for r in records} - profiles)
    if unknown:
        raise DeviceError(
            f"{path}: unknown profile(s) {', '.join(unknown)}; known: {', '.join(sorted(profiles))}"
        )
    return records
