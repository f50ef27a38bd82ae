"""The HTTP app. Today: operational endpoints (health, readiness, Prometheus metrics).
Open data, SensorThings and Open311 routes are added by later work on the same app."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["create_app"]


def create_app(
    pool: asyncpg.Pool,
    metrics: CollectorRegistry,
    broker_connected: Callable[[], bool],
) -> FastAPI:
    """The app, over resources the caller owns (the pool, the gateway's metrics)."""
    app = FastAPI(title="citygate", version="0.1.0")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready when the database answers and the gateway holds its broker session."""
        checks: dict[str, str] = {}
        try:
            async with pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        checks["broker"] = "ok" if broker_connected() else "not connected"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"])
    async def prometheus_metrics() -> Response:
        """Prometheus exposition of the gateway's and the writer's metrics."""
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    return app
