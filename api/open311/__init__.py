"""Open311 GeoReport v2 server under ``/open311/v2/`` (docs/open311.md): discovery,
services, service definitions, requests (GET, GET by id, POST) and tokens, in JSON and
XML, with errors in the spec's format."""

from __future__ import annotations

from fastapi import APIRouter

from . import request_routes, service_routes
from .errors import open311_errors

__all__ = ["PREFIX", "open311_errors", "router"]

PREFIX = "/open311"

router = APIRouter()
router.include_router(service_routes.router)
router.include_router(request_routes.router)
