"""Device commands (operators): queued in the outbox and published to the device's
command topic (QoS 1) by the outbox sender, with the outbox id as the command id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rules.actions.outbox_store import command_problem, enqueue

from ..deps import ConnDep, Operator
from ..errors import errors

router = APIRouter(prefix="/api/v1/devices", tags=["operator: devices"])


class CommandIn(BaseModel):
    """A command for one device."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", examples=["dim"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"level": 30}])


class CommandQueued(BaseModel):
    """A queued command: its outbox id, and where to follow its delivery."""

    id: int
    status_url: str = Field(examples=["/api/v1/outbox/42"])


@router.post(
    "/{device_id}/commands",
    status_code=202,
    response_model=CommandQueued,
    responses={
        200: {"model": CommandQueued, "description": "The same Idempotency-Key was queued before"},
        **errors(
            400,
            401,
            403,
            (404, "No device with this id"),
            (409, "The device is disabled"),
            (422, "The command is invalid, or too large for the device's command topic"),
            429,
        ),
    },
)
async def send_command(
    device_id: str,
    body: CommandIn,
    conn: ConnDep,
    principal: Operator,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Queue a command (202 with the outbox id; follow it at ``/api/v1/outbox/{id}``).
    With an ``Idempotency-Key`` header, a repeat answers 200 with the first id."""
    device = await conn.fetchrow("SELECT enabled, district FROM devices WHERE id = $1", device_id)
    if device is None:
        raise HTTPException(404, f"device {device_id!r} not found")
    principal.check_district(device["district"], f"device {device_id}")
    if not device["enabled"]:
        raise HTTPException(409, f"device {device_id!r} is disabled; enable it first")
    payload = {"command": body.command, "params": body.params}
    problem = command_problem(device_id, payload)
    if problem is not None:
        raise HTTPException(422, problem)
    dedup = None if idempotency_key is None else f"api:{principal.key_id}:{idempotency_key}"
    async with conn.transaction():
        queued = await enqueue(
            conn, "command", device_id, payload | {"requested_by": principal.actor}, dedup
        )
        status = 202
        if queued is None:
            queued = await conn.fetchval("SELECT id FROM outbox WHERE dedup_key = $1", dedup)
            status = 200
    return JSONResponse(
        {"id": queued, "status_url": f"/api/v1/outbox/{queued}"}, status_code=status
    )
