"""API keys (admin): list, create (the key is shown once), revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from ingest.queries.api_keys import ApiKey, ApiKeyError, create_key, list_keys, revoke_key

from ..auth import Authenticator
from ..deps import Admin, ConnDep

router = APIRouter(prefix="/api/v1/keys", tags=["operator: API keys"])


class KeyCreate(BaseModel):
    """A new key."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern="^(viewer|operator|admin)$")
    districts: list[str] | None = Field(default=None, min_length=1)


class KeyPublic(BaseModel):
    """A key as listed (never its secret)."""

    prefix: str
    name: str
    role: str
    districts: list[str] | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> KeyPublic:
        """From the stored key."""
        return cls(
            prefix=k.prefix,
            name=k.name,
            role=k.role,
            districts=list(k.districts) if k.districts is not None else None,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            last_used_at=k.last_used_at,
        )


class KeyCreated(KeyPublic):
    """A key just created: ``key`` is shown this once."""

    key: str


@router.get("")
async def keys(conn: ConnDep, _: Admin) -> list[KeyPublic]:
    """Every key, newest first."""
    return [KeyPublic.of(k) for k in await list_keys(conn)]


@router.post("", status_code=201)
async def new_key(body: KeyCreate, conn: ConnDep, _: Admin) -> KeyCreated:
    """Create a key; the response holds the key, which is not stored and not shown again."""
    try:
        key, text = await create_key(conn, body.name, body.role, body.districts)
    except ApiKeyError as exc:
        raise HTTPException(422, str(exc)) from None
    return KeyCreated(**KeyPublic.of(key).model_dump(), key=text)


@router.delete("/{prefix}")
async def revoke(prefix: str, conn: ConnDep, request: Request, _: Admin) -> KeyPublic:
    """Revoke a key (takes effect at once on this server)."""
    try:
        key = await revoke_key(conn, prefix)
    except ApiKeyError as exc:
        raise HTTPException(404, str(exc)) from None
    auth: Authenticator = request.app.state.auth
    auth.forget()
    return KeyPublic.of(key)
