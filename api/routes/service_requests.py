"""Service requests (operators): list and read with the reporter's contact details,
update (close with notes, agency, expected time). Scoped keys see the requests of their
districts' devices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from rules.actions.service_requests import (
    NotFound,
    ServiceRequest,
    ServiceRequestError,
    get_request,
    list_requests,
    update_request,
)

from ..deps import Config, ConnDep, Operator, Viewer
from ..errors import errors

router = APIRouter(
    prefix="/api/v1/service-requests",
    tags=["operator: service requests"],
    responses=errors(401, 429),
)
_NOT_FOUND = (404, "No service request with this id")


class ServiceRequestOut(BaseModel):
    """A request as operators see it."""

    id: int
    service_code: str
    service_name: str
    status: str
    status_notes: str | None
    description: str
    source: str = Field(description="rule, citizen or operator")
    device_id: str | None
    district: str | None
    alarm_id: int | None
    lat: float | None
    long: float | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    media_url: str | None
    attributes: dict[str, object]
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    account_id: str | None
    reporter_device_id: str | None

    @classmethod
    def of(cls, r: ServiceRequest) -> ServiceRequestOut:
        """From the stored request."""
        values = {k: getattr(r, k) for k in cls.model_fields if k != "long"}
        return cls(**values, long=r.lon)


class ServiceRequestUpdate(BaseModel):
    """What an operator may change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed"] | None = None
    status_notes: str | None = Field(default=None, max_length=4000)
    agency_responsible: str | None = Field(default=None, max_length=200)
    service_notice: str | None = Field(default=None, max_length=2000)
    expected_datetime: datetime | None = None


@router.get("")
async def service_requests(
    conn: ConnDep,
    config: Config,
    principal: Viewer,
    status: Literal["open", "closed"] | None = None,
    service_code: str | None = None,
    source: Literal["rule", "citizen", "operator"] | None = None,
    device_id: str | None = None,
    alarm_id: int | None = None,
    before_id: Annotated[int | None, Query(description="page: ids below this one")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> list[ServiceRequestOut]:
    """Requests newest first; page with ``before_id`` = the last id of the previous page."""
    found = await list_requests(
        conn,
        statuses=None if status is None else [status],
        service_codes=None if service_code is None else [service_code],
        source=source,
        device_id=device_id,
        alarm_id=alarm_id,
        districts=None if principal.districts is None else sorted(principal.districts),
        before_id=before_id,
        limit=min(limit or config.default_page_size, config.max_page_size),
    )
    return [ServiceRequestOut.of(r) for r in found]


async def _get(conn: ConnDep, request_id: int) -> ServiceRequest:
    try:
        return await get_request(conn, request_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/{request_id}", responses=errors(403, _NOT_FOUND))
async def service_request(request_id: int, conn: ConnDep, principal: Viewer) -> ServiceRequestOut:
    """One request."""
    found = await _get(conn, request_id)
    principal.check_district(found.district, f"service request {request_id}")
    return ServiceRequestOut.of(found)


@router.patch(
    "/{request_id}",
    responses=errors(
        400, 403, _NOT_FOUND, (409, "Another request is open for the same device and service")
    ),
)
async def update(
    request_id: int, body: ServiceRequestUpdate, conn: ConnDep, principal: Operator
) -> ServiceRequestOut:
    """Update a request; closing one a rule opened resolves its alarm's action and adds
    a ``request_closed`` event to the alarm's history."""
    found = await _get(conn, request_id)
    principal.check_district(found.district, f"service request {request_id}")
    changes = body.model_dump(exclude_unset=True)
    if "expected_datetime" in changes:
        changes["expected_at"] = changes.pop("expected_datetime")
    if changes.get("status", "") is None:
        raise HTTPException(422, "status must be open or closed")
    try:
        async with conn.transaction():
            updated = await update_request(conn, request_id, changes, principal.actor)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ServiceRequestError as exc:
        raise HTTPException(409, str(exc)) from None
    return ServiceRequestOut.of(updated)
