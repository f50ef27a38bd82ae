"""GeoReport v2 discovery, services, service definitions and tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response

from rules.actions.service_request_queries import request_id_for_token
from rules.actions.service_types import NotFound, get_service_type, list_service_types

from ..deps import Config, ConnDep
from .common import Format, Jurisdiction
from .models import Discovery, Service, ServiceDefinition, TokenRequest, errors, success
from .render import check_format, respond, service_definition, service_entry, w3

# Every answer is in the URL's format; a client over its rate gets 429.
router = APIRouter(tags=["Open311 GeoReport v2"], responses=errors(429))

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


async def _discovery(fmt: str, config: Config, conn: ConnDep) -> Response:
    fmt = check_format(fmt)
    changed = await conn.fetchval("SELECT max(updated_at) FROM service_types") or _EPOCH
    return respond(
        fmt,
        "discovery",
        {
            "changeset": w3(changed),
            "contact": f"See {config.public_url}/docs for the API; ask the city for help.",
            "key_service": "API keys for posting requests are issued by the city's operators.",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": f"{config.public_url}/open311/v2",
                    "changeset": w3(changed),
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


_DISCOVERY = {
    **success(200, Discovery, "Where the endpoint is and its formats"),
    **errors((404, "Unknown format (use .json or .xml)")),
}
_NOT_FOUND = (404, "Unknown format (use .json or .xml), or jurisdiction_id")


@router.get("/open311/discovery.{fmt}", summary="Service discovery", responses=_DISCOVERY)
async def discovery(fmt: Format, config: Config, conn: ConnDep) -> Response:
    """Open311 service discovery: where the GeoReport v2 endpoint is and its formats."""
    return await _discovery(fmt, config, conn)


@router.get(
    "/open311/v2/discovery.{fmt}", summary="Service discovery (under v2)", responses=_DISCOVERY
)
async def discovery_v2(fmt: Format, config: Config, conn: ConnDep) -> Response:
    """The same discovery document, under the versioned endpoint."""
    return await _discovery(fmt, config, conn)


@router.get(
    "/open311/v2/services.{fmt}",
    summary="GET Service List",
    responses={**success(200, list[Service], "The service types"), **errors(_NOT_FOUND)},
)
async def services(fmt: Format, conn: ConnDep, _: Jurisdiction) -> Response:
    """The service types a request may be filed under."""
    fmt = check_format(fmt)
    return respond(fmt, "services", [service_entry(t) for t in await list_service_types(conn)])


@router.get(
    "/open311/v2/services/{service_code}.{fmt}",
    summary="GET Service Definition",
    responses={
        **success(200, ServiceDefinition, "The service's attributes"),
        **errors((404, "Unknown format (use .json or .xml), jurisdiction_id or service_code")),
    },
)
async def definition(service_code: str, fmt: Format, conn: ConnDep, _: Jurisdiction) -> Response:
    """A service's attributes (the extra fields a request of this type takes)."""
    fmt = check_format(fmt)
    try:
        service = await get_service_type(conn, service_code)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return respond(fmt, "service_definition", service_definition(service))


@router.get(
    "/open311/v2/tokens/{token}.{fmt}",
    summary="GET service_request_id from a token",
    responses={
        **success(200, list[TokenRequest], "The request the token stands for"),
        **errors((404, "Unknown format (use .json or .xml), jurisdiction_id or token")),
    },
)
async def token(token: str, fmt: Format, conn: ConnDep, _: Jurisdiction) -> Response:
    """The request a POST's token stands for."""
    fmt = check_format(fmt)
    try:
        request_id = await request_id_for_token(conn, token)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return respond(fmt, "service_requests", [{"service_request_id": request_id, "token": token}])
