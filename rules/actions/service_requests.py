"""Open311 service requests: opened by rules for alarms, by citizens through GeoReport v2,
and followed up (closed, noted) by operators.

Every function takes the caller's connection and opens no transaction of its own, so the
rules engine's calls commit or roll back with its alarm change (a savepoint guards the
one statement that may fail).

What alarms carry: ``alarms.details -> 'actions' -> 'service_request'`` is
``{"id": <request id>, "status": "open" | "closed", "opened": <bool: this alarm opened
it>, "closed_at", "closed_by", "notes"}`` (the last three once closed); closing or
reopening a request also adds an ``alarm_events`` row (``kind`` ``request_closed`` or
``request_reopened``, ``actor``, ``details`` ``{"service_request_id", "status_notes"}``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import orjson

from ingest.db import Conn

from .service_request_queries import ServiceRequest, get_request, list_requests
from .service_types import NotFound, ServiceRequestError, check_attribute_answers, get_service_type

__all__ = [
    "CitizenRequest",
    "NotFound",
    "ServiceRequest",
    "ServiceRequestError",
    "create_citizen_request",
    "get_request",
    "list_requests",
    "note_alarm_cleared",
    "open_request_for_alarm",
    "service_codes",
    "update_request",
]

MAX_DESCRIPTION = 4000
UPDATABLE = frozenset(
    {"status", "status_notes", "agency_responsible", "service_notice", "expected_at"}
)


async def service_codes(conn: Conn) -> set[str]:
    """The configured service codes (for validating rule actions)."""
    return {r["service_code"] for r in await conn.fetch("SELECT service_code FROM service_types")}


async def _link_alarms(conn: Conn, alarm_ids: list[int], action: Mapping[str, object]) -> None:
    """Merge ``action`` into the alarms' ``details.actions.service_request``."""
    await conn.execute(
        """
        UPDATE alarms SET details = details || jsonb_build_object('actions',
            CASE WHEN jsonb_typeof(details -> 'actions') = 'object'
                 THEN details -> 'actions' ELSE '{}'::jsonb END
            || jsonb_build_object('service_request', $2::jsonb))
        WHERE id = ANY($1::bigint[])
        """,
        alarm_ids,
        orjson.dumps(action).decode(),
    )


async def open_request_for_alarm(
    conn: Conn,
    *,
    service_code: str,
    device_key: int | None,
    alarm_id: int,
    description: str,
    lon: float | None = None,
    lat: float | None = None,
    address: str | None = None,
) -> tuple[int, bool]:
    """Open a request for an alarm; if one is already open for (device_key, service_code),
    link nothing new and return (its id, False); else (new id, True). Never a second open
    request for the same device and service, also under concurrent callers (the unique
    index). Without a device (area alarms) the alarm itself is the key. The location is
    (lon, lat) when given, else the device's. Raises :class:`ServiceRequestError` for an
    unknown service code, without disturbing the caller's transaction."""
    known = await conn.fetchval("SELECT 1 FROM service_types WHERE service_code = $1", service_code)
    if known is None:
        raise ServiceRequestError(f"unknown service code {service_code!r} (configure it first)")
    for _ in range(5):
        try:
            async with conn.transaction():  # a savepoint inside the caller's transaction
                new_id = await conn.fetchval(
                    """
                    INSERT INTO service_requests
                        (service_code, device_key, alarm_id, description, location, address,
                         source, agency_responsible, service_notice, token)
                    SELECT $1, $2, $3, $4,
                           coalesce(CASE WHEN $5::float8 IS NOT NULL AND $6::float8 IS NOT NULL
                                         THEN ST_SetSRID(ST_MakePoint($5, $6), 4326) END,
                                    (SELECT location FROM devices WHERE device_key = $2)),
                           $7, 'rule', t.agency_responsible, t.service_notice, $8
                    FROM service_types t WHERE t.service_code = $1
                      AND ($2::int IS NOT NULL OR NOT EXISTS (
                          SELECT 1 FROM service_requests WHERE alarm_id = $3
                          AND service_code = $1 AND status = 'open'))
                    ON CONFLICT (device_key, service_code)
                        WHERE status = 'open' AND device_key IS NOT NULL DO NOTHING
                    RETURNING id
                    """,
                    service_code, device_key, alarm_id, description[:MAX_DESCRIPTION],
                    lon, lat, address, secrets.token_urlsafe(12),
                )  # fmt: skip
        except asyncpg.ForeignKeyViolationError:
            raise ServiceRequestError(f"unknown device key {device_key}") from None
        if new_id is not None:
            await _link_alarms(conn, [alarm_id], {"id": new_id, "status": "open", "opened": True})
            return int(new_id), True
        existing = await conn.fetchval(
            "SELECT id FROM service_requests WHERE service_code = $1 AND status = 'open' AND "
            "CASE WHEN $2::int IS NULL THEN alarm_id = $3 ELSE device_key = $2 END",
            service_code,
            device_key,
            alarm_id,
        )
        if existing is not None:
            await _link_alarms(
                conn, [alarm_id], {"id": existing, "status": "open", "opened": False}
            )
            return int(existing), False
        # The open request was closed between the two statements: try the insert again.
    raise ServiceRequestError("could not open a service request: it kept changing; try again")


async def note_alarm_cleared(conn: Conn, alarm_id: int, note: str) -> None:
    """Append a note to the open request(s) linked to this alarm (status_notes), not
    closing them; linked means opened for the alarm or named in its details."""
    await conn.execute(
        """
        UPDATE service_requests
        SET status_notes = CASE WHEN coalesce(status_notes, '') = '' THEN $2
                                ELSE status_notes || E'\\n' || $2 END,
            updated_at = now()
        WHERE status = 'open' AND (alarm_id = $1 OR id = (
            SELECT (details -> 'actions' -> 'service_request' ->> 'id')::bigint
            FROM alarms WHERE id = $1 AND details ? 'actions'))
        """,
        alarm_id,
        note[:MAX_DESCRIPTION],
    )


@dataclass(frozen=True, slots=True)
class CitizenRequest:
    """What a GeoReport v2 POST carries (already checked for form and size)."""

    service_code: str
    jurisdiction_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    address_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    account_id: str | None = None
    reporter_device_id: str | None = None
    description: str = ""
    media_url: str | None = None
    attributes: Mapping[str, list[str]] = field(default_factory=dict)


async def create_citizen_request(conn: Conn, req: CitizenRequest) -> ServiceRequest:
    """Store a citizen's request after checking its service code (:class:`NotFound`) and
    attribute answers (:class:`ServiceRequestError` listing every problem)."""
    service = await get_service_type(conn, req.service_code)
    answers = check_attribute_answers(service, req.attributes)
    new_id = await conn.fetchval(
        """
        INSERT INTO service_requests
            (service_code, status, description, location, address, address_id, source,
             jurisdiction_id, attributes, email, first_name, last_name, phone, account_id,
             reporter_device_id, media_url, agency_responsible, service_notice, token)
        VALUES ($1, 'open', $2,
                CASE WHEN $3::float8 IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint($4::float8, $3::float8), 4326) END,
                $5, $6, 'citizen', $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        RETURNING id
        """,
        req.service_code, req.description[:MAX_DESCRIPTION], req.lat, req.lon, req.address,
        req.address_id, req.jurisdiction_id, orjson.dumps(answers).decode(), req.email,
        req.first_name, req.last_name, req.phone, req.account_id, req.reporter_device_id,
        req.media_url, service.agency_responsible, service.service_notice,
        secrets.token_urlsafe(12),
    )  # fmt: skip
    return await get_request(conn, int(new_id))


async def update_request(
    conn: Conn, request_id: int, changes: Mapping[str, object], actor: str
) -> ServiceRequest:
    """Apply an operator's update (keys of ``UPDATABLE``); closing or reopening resolves
    or reopens the linked alarms' action and records an alarm event. Call it inside a
    transaction so the request and its alarms change together."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ServiceRequestError(f"cannot update {', '.join(sorted(unknown))}")
    # Lock order alarms -> request, the order the rules engine takes them in (its alarm,
    # then the request it opens), so an operator closing a request while a rule raises
    # on the same device cannot deadlock with it.
    await conn.execute(
        """
        SELECT a.id FROM alarms a
        WHERE a.id = (SELECT alarm_id FROM service_requests WHERE id = $1)
           OR (a.details ? 'actions'
               AND a.details -> 'actions' -> 'service_request' ->> 'id' = $1::text)
        ORDER BY a.id FOR UPDATE
        """,
        request_id,
    )
    before = await conn.fetchrow(
        "SELECT status FROM service_requests WHERE id = $1 FOR UPDATE", request_id
    )
    if before is None:
        raise NotFound(f"service request {request_id} not found")
    status = changes.get("status", before["status"])
    if status not in ("open", "closed"):
        raise ServiceRequestError(f"status must be open or closed, not {status!r}")
    flags = [k in changes for k in ("status_notes", "agency_responsible", "service_notice",
                                    "expected_at")]  # fmt: skip
    try:
        async with conn.transaction():
            await conn.execute(
                """
                UPDATE service_requests SET
                    status = $2,
                    status_notes = CASE WHEN $3 THEN $4 ELSE status_notes END,
                    agency_responsible = CASE WHEN $5 THEN $6 ELSE agency_responsible END,
                    service_notice = CASE WHEN $7 THEN $8 ELSE service_notice END,
                    expected_at = CASE WHEN $9 THEN $10::timestamptz ELSE expected_at END,
                    closed_at = CASE WHEN $2 = 'closed' THEN coalesce(closed_at, now()) END,
                    closed_by = CASE WHEN $2 = 'closed' THEN coalesce(closed_by, $11) END,
                    updated_at = now()
                WHERE id = $1
                """,
                request_id, status,
                flags[0], changes.get("status_notes"), flags[1], changes.get("agency_responsible"),
                flags[2], changes.get("service_notice"), flags[3], changes.get("expected_at"),
                actor,
            )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise ServiceRequestError(
            f"cannot reopen request {request_id}: another request is open for the same "
            "device and service"
        ) from None
    after = await get_request(conn, request_id)
    if status != before["status"]:
        await _resolve_alarm_action(conn, after, actor)
    return after


async def _resolve_alarm_action(conn: Conn, req: ServiceRequest, actor: str) -> None:
    alarm_ids = [
        int(r["id"])
        for r in await conn.fetch(
            "SELECT id FROM alarms WHERE id = $1 OR (details ? 'actions' AND "
            "details -> 'actions' -> 'service_request' ->> 'id' = $2::text)",
            req.alarm_id,
            str(req.id),
        )
    ]
    if not alarm_ids:
        return
    action: dict[str, object] = {"id": req.id, "status": req.status}
    if req.status == "closed":
        closed_at = req.closed_at.isoformat() if isinstance(req.closed_at, datetime) else None
        action |= {"closed_at": closed_at, "closed_by": req.closed_by, "notes": req.status_notes}
    opened_by = await conn.fetch(
        "SELECT id, details -> 'actions' -> 'service_request' -> 'opened' AS opened "
        "FROM alarms WHERE id = ANY($1::bigint[])",
        alarm_ids,
    )
    for r in opened_by:
        opened = r["opened"] == "true" if r["opened"] is not None else r["id"] == req.alarm_id
        await _link_alarms(conn, [int(r["id"])], action | {"opened": opened})
    kind = "request_closed" if req.status == "closed" else "request_reopened"
    details = orjson.dumps({"service_request_id": req.id, "status_notes": req.status_notes})
    await conn.executemany(
        "INSERT INTO alarm_events (alarm_id, kind, actor, details) VALUES ($1, $2, $3, $4::jsonb)",
        [(a, kind, actor, details.decode()) for a in alarm_ids],
    )
