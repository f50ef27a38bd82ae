"""Operational endpoints: liveness, readiness (database and broker), Prometheus metrics."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import Ctx

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database or broker unavailable"}})
async def readyz(ctx: Ctx) -> JSONResponse:
    """Ready when the database answers and the gateway holds its broker session."""
    checks: dict[str, str] = {}
    try:
        async with ctx.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        checks["database"] = "ok"
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    checks["broker"] = "ok" if ctx.broker_connected() else "not connected"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(ctx: Ctx) -> Response:
    """Prometheus exposition of the gateway's, the writer's and the API's metrics."""
    return Response(generate_latest(ctx.prometheus), media_type=CONTENT_TYPE_LATEST)
