"""The HTTP app: open data (no key), SensorThings API, Open311 GeoReport v2, operator
endpoints (API keys with roles) and operational endpoints, over one :class:`ApiContext`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from . import sensorthings
from .auth import Authenticator
from .context import ApiContext
from .errors import ErrorFormatter, install_error_handlers
from .open311 import PREFIX as OPEN311_PREFIX
from .open311 import open311_errors
from .open311 import router as open311_router
from .routes import alarms, commands, keys, ops, outbox, rules, service_requests, service_types

__all__ = ["create_app"]

DESCRIPTION = """\
Open city data from citygate: devices, latest values, history, live updates, OGC
SensorThings API 1.1 and Open311 GeoReport v2. Reading open data needs no key; operator
endpoints need an API key (`X-API-Key` header or `Authorization: Bearer`) with a role.
"""


def create_app(ctx: ApiContext) -> FastAPI:
    """The app over resources the caller owns; background tasks it needs are appended to
    ``ctx.background`` for the caller to run."""
    app = FastAPI(title="citygate", version="0.1.0", description=DESCRIPTION)
    app.state.ctx = ctx
    auth = Authenticator(ctx.pool, ctx.config.key_cache_s)
    app.state.auth = auth
    ctx.background.append(("api-key-usage", auth.run))

    formatters: dict[str, ErrorFormatter] = {}
    app.include_router(ops.router)
    app.include_router(keys.router)
    app.include_router(rules.router)
    app.include_router(alarms.router)
    app.include_router(open311_router)
    formatters[OPEN311_PREFIX] = open311_errors
    app.include_router(service_types.router)
    app.include_router(service_requests.router)
    app.include_router(outbox.router)
    app.include_router(commands.router)
    app.include_router(sensorthings.build_router(ctx))
    formatters[sensorthings.PREFIX] = sensorthings.format_error

    install_error_handlers(app, formatters)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(ctx.config.cors_origins),
        allow_methods=["GET", "HEAD", "OPTIONS"] if "*" in ctx.config.cors_origins else ["*"],
        allow_headers=["*"],
        expose_headers=["ETag", "Retry-After", "Link"],
    )
    return app
