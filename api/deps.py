"""FastAPI dependencies as ``Annotated`` aliases: the context, a pooled connection, and
callers by role (``Viewer``, ``Operator``, ``Admin``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ingest.db import Conn

from .auth import Authenticator, Principal, key_from_request
from .context import ApiConfig, ApiContext

__all__ = [
    "Admin",
    "Config",
    "ConnDep",
    "Ctx",
    "Operator",
    "OptionalPrincipal",
    "Viewer",
    "get_context",
    "require_role",
]


def get_context(request: Request) -> ApiContext:
    """The app's context (set by ``create_app``)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _config(request: Request) -> ApiConfig:
    return get_context(request).config


async def _conn(request: Request) -> AsyncIterator[Conn]:
    async with get_context(request).pool.acquire(timeout=10) as conn:
        yield conn


Ctx = Annotated[ApiContext, Depends(get_context)]
Config = Annotated[ApiConfig, Depends(_config)]
ConnDep = Annotated[Conn, Depends(_conn)]


async def _optional_principal(request: Request) -> Principal | None:
    key = key_from_request(request)
    if key is None:
        return None
    auth: Authenticator = request.app.state.auth
    principal = await auth.verify(key)
    if principal is None:
        raise HTTPException(
            401, "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]


def require_role(role: str) -> object:
    """A dependency that admits keys with ``role`` or above (401 without a key, 403 below)."""

    async def dependency(principal: OptionalPrincipal) -> Principal:
        if principal is None:
            raise HTTPException(
                401,
                f"this endpoint needs an API key with role {role} or above "
                "(X-API-Key header or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.has_role(role):
            raise HTTPException(
                403, f"this endpoint needs role {role} or above; this key has role {principal.role}"
            )
        return principal

    return Depends(dependency)


Viewer = Annotated[Principal, require_role("viewer")]
Operator = Annotated[Principal, require_role("operator")]
Admin = Annotated[Principal, require_role("admin")]
