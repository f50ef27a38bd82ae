"""Operator endpoints for alarms: list and filter, read one with its history,
acknowledge, clear."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from rules.actions.alarms import ALARM_COLUMNS, AlarmRow, acknowledge, clear_alarm
from rules.store import get_rule

from ..auth import Principal
from ..deps import Config, ConnDep, Ctx, Operator, Viewer
from ..errors import errors

router = APIRouter(prefix="/api/v1/alarms", tags=["operator: alarms"], responses=errors(401, 429))

_NO_ALARM = (404, "No alarm with this id")

Severity = Literal["critical", "major", "minor", "warning", "info"]
AlarmId = Annotated[int, Path(ge=1, le=2**63 - 1, description="alarm id")]


class AlarmPublic(BaseModel):
    """An alarm."""

    id: int
    rule_id: int
    rule_name: str
    rule_version: int
    subject: str
    device_id: str | None
    district: str | None
    severity: str
    active: bool
    acknowledged: bool
    count: int
    raised_at: datetime
    last_raised_at: datetime | None
    cleared_at: datetime | None
    cleared_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    details: dict[str, Any]


class AlarmEventPublic(BaseModel):
    """One entry of an alarm's history."""

    at: datetime
    kind: str
    actor: str | None
    details: dict[str, Any]


class AlarmServiceRequest(BaseModel):
    """A service request an alarm opened (in full at ``/api/v1/service-requests/{id}``)."""

    id: int
    service_code: str
    status: Literal["open", "closed"]
    status_notes: str | None
    requested_at: datetime
    updated_at: datetime


class AlarmDetail(AlarmPublic):
    """An alarm with its history and the service requests it opened."""

    events: list[AlarmEventPublic]
    service_requests: list[AlarmServiceRequest]


class AlarmPage(BaseModel):
    """A page of alarms, newest first."""

    total: int
    limit: int
    offset: int
    alarms: list[AlarmPublic]


class NoteBody(BaseModel):
    """An operator's note on an acknowledgement or a clear."""

    note: str = Field(default="", max_length=2000)


_SELECT = (
    f"SELECT {ALARM_COLUMNS}, d.id AS device_id, d.district AS district "  # noqa: S608
    "FROM alarms a JOIN rules r ON r.id = a.rule_id "
    "LEFT JOIN devices d ON d.device_key = a.device_key "
)

_FILTER = """
WHERE ($1::boolean IS NULL OR a.active = $1)
  AND ($2::boolean IS NULL OR a.acknowledged = $2)
  AND ($3::text IS NULL OR a.severity = $3)
  AND ($4::int IS NULL OR a.rule_id = $4)
  AND ($5::text IS NULL OR a.subject = $5 OR d.id = $5)
  AND ($6::text IS NULL OR d.district = $6)
  AND ($7::timestamptz IS NULL OR a.raised_at >= $7)
  AND ($8::timestamptz IS NULL OR a.raised_at < $8)
  AND ($9::text[] IS NULL OR d.district = ANY($9) OR a.subject = ANY($10::text[]))
"""


_COUNT = (
    "SELECT count(*) FROM alarms a LEFT JOIN devices d ON d.device_key = a.device_key " + _FILTER  # noqa: S608
)


def _public(r: Any) -> AlarmPublic:
    row = AlarmRow.of(r)
    return AlarmPublic(
        **{k: getattr(row, k) for k in AlarmRow.__slots__ if k not in ("device_key", "updated_at")},
        device_id=r["device_id"], district=r["district"],
    )  # fmt: skip


def _scope_args(principal: Principal) -> tuple[list[str] | None, list[str] | None]:
    if principal.districts is None:
        return None, None
    ds = sorted(principal.districts)
    return ds, [f"district:{d}" for d in ds]


@router.get("")
async def alarms(
    conn: ConnDep,
    config: Config,
    principal: Viewer,
    active: bool | None = None,
    acknowledged: bool | None = None,
    severity: Severity | None = None,
    rule_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    device: Annotated[str | None, Query(max_length=128, description="device id or subject")] = None,
    district: Annotated[str | None, Query(max_length=128)] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlarmPage:
    """Alarms, newest first; a district-limited key sees its districts' alarms only."""
    if limit > config.max_page_size:
        raise HTTPException(422, f"limit is at most {config.max_page_size}")
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"{name} needs a time zone (e.g. 2026-11-01T00:00:00Z)")
    scope, subjects = _scope_args(principal)
    args = (active, acknowledged, severity, rule_id, device, district, start, end, scope, subjects)
    total = await conn.fetchval(_COUNT, *args)
    rows = await conn.fetch(
        _SELECT + _FILTER + " ORDER BY a.raised_at DESC, a.id DESC LIMIT $11 OFFSET $12",
        *args, limit, offset,
    )  # fmt: skip
    return AlarmPage(total=total, limit=limit, offset=offset, alarms=[_public(r) for r in rows])


async def _one(conn: ConnDep, alarm_id: AlarmId, principal: Principal) -> Any:
    r = await conn.fetchrow(_SELECT + "WHERE a.id = $1", alarm_id)
    if r is None:
        raise HTTPException(404, f"no alarm with id {alarm_id}")
    if principal.districts is not None:
        district = r["district"]
        if district is None and str(r["subject"]).startswith("district:"):
            district = str(r["subject"]).removeprefix("district:")
        principal.check_district(district, f"alarm {alarm_id}")
    return r


@router.get("/{alarm_id}", responses=errors(403, _NO_ALARM))
async def alarm(alarm_id: AlarmId, conn: ConnDep, principal: Viewer) -> AlarmDetail:
    """One alarm with its history and linked service requests."""
    r = await _one(conn, alarm_id, principal)
    events = await conn.fetch(
        "SELECT at, kind, actor, details::text AS details FROM alarm_events "
        "WHERE alarm_id = $1 ORDER BY at, id",
        alarm_id,
    )
    requests = await conn.fetch(
        "SELECT id, service_code, status, status_notes, requested_at, updated_at "
        "FROM service_requests WHERE alarm_id = $1 ORDER BY id",
        alarm_id,
    )
    return AlarmDetail(
        **_public(r).model_dump(),
        events=[AlarmEventPublic(at=e["at"], kind=e["kind"], actor=e["actor"],
                                 details=orjson.loads(e["details"])) for e in events],
        service_requests=[AlarmServiceRequest.model_validate(dict(q)) for q in requests],
    )  # fmt: skip


@router.post("/{alarm_id}/acknowledge", responses=errors(400, 403, _NO_ALARM))
async def acknowledge_alarm(
    alarm_id: AlarmId, conn: ConnDep, principal: Operator, body: NoteBody | None = None
) -> AlarmPublic:
    """Acknowledge an alarm (idempotent)."""
    await _one(conn, alarm_id, principal)
    await acknowledge(conn, alarm_id, principal.actor, (body or NoteBody()).note)
    return _public(await _one(conn, alarm_id, principal))


@router.post("/{alarm_id}/clear", responses=errors(400, 403, _NO_ALARM))
async def clear(
    alarm_id: AlarmId, ctx: Ctx, conn: ConnDep, principal: Operator, body: NoteBody | None = None
) -> AlarmPublic:
    """Clear an alarm by hand (idempotent). If its condition still holds, the rule raises
    a new alarm only after the condition has cleared and holds again."""
    r = await _one(conn, alarm_id, principal)
    record = await get_rule(conn, int(r["rule_id"]))
    await clear_alarm(
        conn, alarm_id, principal.actor, (body or NoteBody()).note,
        record.rule if record else None, ctx.alarm_actions,
    )  # fmt: skip
    return _public(await _one(conn, alarm_id, principal))
