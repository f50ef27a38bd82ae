"""Open data: the device profiles (metrics, units, ranges, states) so apps can label
values."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request, Response

from ..open_data.http_cache import send
from ..open_data.models import ProfilePublic
from ..open_data.present import dumps, profile_dict
from ..open_data.state import NOT_FOUND, PUBLIC_RESPONSES, Ctx

router = APIRouter(prefix="/api/v1/profiles", tags=["open data"], responses=PUBLIC_RESPONSES)

_MAX_AGE = 300  # profiles change with a deployment, not by the minute


@router.get("", response_model=list[ProfilePublic])
async def profiles(request: Request, ctx: Ctx) -> Response:
    """Every device profile with its metrics: unit (UN/CEFACT code, symbol, name), valid
    range, or the list of states of a categorical metric."""
    return send(request, dumps([profile_dict(p) for p in ctx.profiles]), "application/json",
                _MAX_AGE)  # fmt: skip


@router.get("/{name}", response_model=ProfilePublic, responses=NOT_FOUND)
async def profile(request: Request, ctx: Ctx, name: str = Path(max_length=64)) -> Response:
    """One device profile."""
    if name not in ctx.profiles:
        raise HTTPException(
            404, f"no profile {name!r}; profiles: {', '.join(ctx.profiles.names())}"
        )
    return send(request, dumps(profile_dict(ctx.profiles.get(name))), "application/json", _MAX_AGE)
