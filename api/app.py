"""The HTTP app: open data (no key), SensorThings API, Open311 GeoReport v2, operator
endpoints (API keys with roles) and operational endpoints, over one :class:`ApiContext`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from . import sensorthings
from .auth import Authenticator
from .context import ApiContext
from .db_errors import install_data_error_handler
from .errors import ErrorFormatter, document_validation_errors, install_error_handlers
from .open311 import PREFIX as OPEN311_PREFIX
from .open311 import open311_errors
from .open311 import router as open311_router
from .open_data.state import OpenData
from .ratelimit import RateLimitMiddleware
from .routes import (
    alarms,
    areas,
    commands,
    device_admin,
    devices,
    history,
    keys,
    latest,
    live,
    ops,
    outbox,
    profiles,
    rules,
    service_requests,
    service_types,
)
from .routes import quarantine as quarantine_routes
from .routes.device_admin import OPERATOR_RESPONSES

__all__ = ["create_app"]

DESCRIPTION = """\
Open city data from citygate: devices, latest values, history, live updates, OGC
SensorThings API 1.1 and Open311 GeoReport v2. Reading open data needs no key; operator
endpoints need an API key (`X-API-Key` header or `Authorization: Bearer`) with a role.
"""

TAGS = [
    {"name": "open data", "description": "Devices, latest values, history, areas, live "
     "updates: no key needed"},
    {"name": "OGC SensorThings API 1.1", "description": "Things, Datastreams, Observations "
     "... at /v1.1 (docs/sensorthings.md)"},
    {"name": "Open311 GeoReport v2", "description": "Service requests at /open311/v2"},
    {"name": "operator: devices"},
    {"name": "operator: quarantine"},
    {"name": "operator: rules"},
    {"name": "operator: alarms"},
    {"name": "operator: service requests"},
    {"name": "operator: outbox"},
    {"name": "operator: API keys"},
    {"name": "operations", "description": "Health, readiness, Prometheus metrics"},
]  # fmt: skip


def create_app(ctx: ApiContext) -> FastAPI:
    """The app over resources the caller owns; background tasks it needs are appended to
    ``ctx.background`` for the caller to run."""
    app = FastAPI(title="citygate", version="0.1.0", description=DESCRIPTION, openapi_tags=TAGS)
    app.state.ctx = ctx
    auth = Authenticator(ctx.pool, ctx.config.key_cache_s)
    app.state.auth = auth
    ctx.background.append(("api-key-usage", auth.run))

    formatters: dict[str, ErrorFormatter] = {}
    app.state.open_data = OpenData.for_context(ctx)
    # Routers are tried in this order and each costs a few microseconds per route it
    # holds, so the busiest public reads come first: SensorThings (its catch-all only
    # matches /v1.1/...), latest values, history. No two routers share a path, so the
    # order changes nothing else; Swagger UI groups by the ``openapi_tags`` order.
    app.include_router(sensorthings.build_router(ctx))
    formatters[sensorthings.PREFIX] = sensorthings.format_error
    for module in (latest, history, devices, areas, live, profiles, device_admin):
        app.include_router(module.router)
    app.include_router(ops.router)
    # Documented as they answer: {"detail": ...} for every error (see api/errors.py).
    app.include_router(keys.router, responses=OPERATOR_RESPONSES)
    app.include_router(quarantine_routes.router)
    app.include_router(rules.router)
    app.include_router(alarms.router)
    app.include_router(open311_router)
    formatters[OPEN311_PREFIX] = open311_errors
    app.include_router(service_types.router)
    app.include_router(service_requests.router)
    app.include_router(outbox.router)
    app.include_router(commands.router)

    install_error_handlers(app, formatters)
    # Open311 and SensorThings document their own error formats and codes.
    document_validation_errors(app, own_format=formatters)
    install_data_error_handler(app)
    # Inside CORS (so a 429 carries CORS headers), around every route.
    app.add_middleware(
        RateLimitMiddleware,
        rate=ctx.config.rate_limit_per_s,
        burst=ctx.config.rate_limit_burst,
        verify_key=auth.verify,
        key_ttl_s=ctx.config.key_cache_s,
        formatters=formatters,
        registry=ctx.prometheus,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(ctx.config.cors_origins),
        allow_methods=["GET", "HEAD", "OPTIONS"] if "*" in ctx.config.cors_origins else ["*"],
        allow_headers=["*"],
        expose_headers=["ETag", "Retry-After", "Link"],
    )
    return app
