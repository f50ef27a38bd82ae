"""Service types (operators): the Open311 services citizens and rules file requests under,
with the attributes of ``metadata`` services. City-wide, so changing them needs a key
without a district scope."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from rules.service_types import (
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

router = APIRouter(prefix="/api/v1/service-types", tags=["operator: service requests"])

_CITY_WIDE = "a service type (city-wide)"


@router.get("")
async def service_types(conn: ConnDep, _: Viewer) -> list[ServiceType]:
    """Every service type."""
    return await list_service_types(conn)


@router.get("/{service_code}")
async def service_type(service_code: str, conn: ConnDep, _: Viewer) -> ServiceType:
    """One service type with its attributes."""
    try:
        return await get_service_type(conn, service_code)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.post("", status_code=201)
async def create(body: ServiceTypeIn, conn: ConnDep, principal: Operator) -> ServiceType:
    """Create a service type (409 when the code exists)."""
    principal.check_district(None, _CITY_WIDE)
    try:
        return await save_service_type(conn, body, create=True)
    except ServiceRequestError as exc:
        raise HTTPException(409, str(exc)) from None


@router.put("/{service_code}")
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


@router.delete("/{service_code}", status_code=204)
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
