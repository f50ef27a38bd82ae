"""Reading service requests: by id, by token, and filtered lists (Open311 and operators)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

from ingest.db import Conn

from .service_types import NotFound

__all__ = ["ServiceRequest", "get_request", "list_requests", "request_id_for_token"]


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A stored request with its service name, device and location."""

    id: int
    service_code: str
    service_name: str
    status: str
    status_notes: str | None
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    lon: float | None
    media_url: str | None
    source: str
    device_id: str | None
    district: str | None
    alarm_id: int | None
    token: str | None
    jurisdiction_id: str | None
    attributes: dict[str, object]
    # The citizen's contact details: for operators only, never in public answers.
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    account_id: str | None
    reporter_device_id: str | None


_SELECT = """
SELECT r.id, r.service_code, t.service_name, r.status, r.status_notes, r.description,
       r.agency_responsible, r.service_notice, r.requested_at, r.updated_at, r.expected_at,
       r.closed_at, r.closed_by, r.address, r.address_id, r.zipcode,
       ST_Y(r.location) AS lat, ST_X(r.location) AS lon, r.media_url, r.source,
       d.id AS device_id, d.district, r.alarm_id, r.token, r.jurisdiction_id,
       r.attributes::text AS attributes, r.email, r.first_name, r.last_name, r.phone,
       r.account_id, r.reporter_device_id
FROM service_requests r
JOIN service_types t ON t.service_code = r.service_code
LEFT JOIN devices d ON d.device_key = r.device_key
"""


def _request(r: asyncpg.Record) -> ServiceRequest:
    values = dict(r)
    values["attributes"] = orjson.loads(values["attributes"])
    return ServiceRequest(**values)


async def get_request(conn: Conn, request_id: int) -> ServiceRequest:
    """One request; raises :class:`NotFound`."""
    row = await conn.fetchrow(_SELECT + "WHERE r.id = $1", request_id)
    if row is None:
        raise NotFound(f"service_request_id {request_id} not found")
    return _request(row)


async def request_id_for_token(conn: Conn, token: str) -> int:
    """The request a POST's token stands for; raises :class:`NotFound`."""
    found = await conn.fetchval("SELECT id FROM service_requests WHERE token = $1", token)
    if found is None:
        raise NotFound(f"token {token!r} not found")
    return int(found)


async def list_requests(
    conn: Conn,
    *,
    ids: Sequence[int] | None = None,
    service_codes: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    source: str | None = None,
    device_id: str | None = None,
    alarm_id: int | None = None,
    districts: Sequence[str] | None = None,
    before_id: int | None = None,
    limit: int = 1000,
) -> list[ServiceRequest]:
    """Requests newest first; every filter is optional (``districts``: only requests of
    devices in these districts, the scope of a district-limited key)."""
    rows = await conn.fetch(
        _SELECT
        + """
        WHERE ($1::bigint[] IS NULL OR r.id = ANY($1))
          AND ($2::text[] IS NULL OR r.service_code = ANY($2))
          AND ($3::text[] IS NULL OR r.status = ANY($3))
          AND ($4::timestamptz IS NULL OR r.requested_at >= $4)
          AND ($5::timestamptz IS NULL OR r.requested_at <= $5)
          AND ($6::text IS NULL OR r.source = $6)
          AND ($7::text IS NULL OR d.id = $7)
          AND ($8::bigint IS NULL OR r.alarm_id = $8)
          AND ($9::text[] IS NULL OR d.district = ANY($9))
          AND ($10::bigint IS NULL OR r.id < $10)
        ORDER BY r.id DESC
        LIMIT $11
        """,
        None if ids is None else list(ids),
        None if service_codes is None else list(service_codes),
        None if statuses is None else list(statuses),
        start,
        end,
        source,
        device_id,
        alarm_id,
        None if districts is None else list(districts),
        before_id,
        limit,
    )
    return [_request(r) for r in rows]
