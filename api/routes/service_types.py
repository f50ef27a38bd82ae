"""Service types (operators): the Open311 services citizens and rules file requests under,
with the attributes of ``metadata`` services. City-wide, so changing them needs a key
without a district scope."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from rules.actions.service_types import (
    NotFound,
    ServiceRequestError,
    ServiceType,
    ServiceTypeIn,
    delete_service_type,
    get_service_type,
    list_service_types,
    save_service_type,
)

from ..deps import ConnDep, Operator, Viewer
from ..errors import errors

router = APIRouter(
    prefix="/api/v1/service-types",
    tags=["operator: service requests"],
    responses=errors(401, 429),
)
_NOT_FOUND = (404, "No service type with this code")
# Changing service types needs a key without a district scope.
_CITY_WIDE_ONLY = (403, "The key's role is below operator, or it has a district scope")

_CITY_WIDE = "a service type (city-wide)"


@router.get("")
async def service_types(conn: ConnDep, _: Viewer) -> list[ServiceType]:
    """Every service type."""
    return await list_service_types(conn)


@router.get("/{service_code}", responses=errors(_NOT_FOUND))
async def service_type(service_code: str, conn: ConnDep, _: Viewer) -> ServiceType:
    """One service type with its attributes."""
    try:
        return await get_service_type(conn, service_code)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.post(
    "",
    status_code=201,
    responses=errors(400, _CITY_WIDE_ONLY, (409, "A service type with this code exists")),
)
async def create(body: ServiceTypeIn, conn: ConnDep, principal: Operator) -> ServiceType:
    """Create a service type (409 when the code exists)."""
    principal.check_district(None, _CITY_WIDE)
    try:
        return await save_service_type(conn, body, create=True)
    except ServiceRequestError as exc:
        raise HTTPException(409, str(exc)) from None


@router.put("/{service_code}", responses=errors(400, _CITY_WIDE_ONLY, _NOT_FOUND))
async def replace(
    service_code: str, body: ServiceTypeIn, conn: ConnDep, principal: Operator
) -> ServiceType:
    """Replace a service type (its code stays)."""
    principal.check_district(None, _CITY_WIDE)
    if body.service_code != service_code:
        raise HTTPException(422, "service_code in the body must match the URL")
    try:
        return await save_service_type(conn, body, create=False)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.delete(
    "/{service_code}",
    status_code=204,
    response_class=Response,
    responses=errors(_CITY_WIDE_ONLY, _NOT_FOUND, (409, "Service requests use this service type")),
)
async def delete(service_code: str, conn: ConnDep, principal: Operator) -> Response:
    """Delete a service type no request uses (409 otherwise)."""
    principal.check_district(None, _CITY_WIDE)
    try:
        await delete_service_type(conn, service_code)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ServiceRequestError as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)
