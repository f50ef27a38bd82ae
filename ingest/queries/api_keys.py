"""API keys: created once and shown once, stored as a SHA-256 hash, looked up by prefix.

A key reads ``cg_<prefix>_<secret>``: the prefix (8 hex characters) names the key in
lists and logs; the secret (43 url-safe characters, 256 bits) never leaves the creator.
Keys carry 256 bits of randomness, so a plain SHA-256 (no slow password hash) is the
right tool: nothing to brute-force, and verifying costs microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ..db import Conn
from ..errors import IngestError

__all__ = [
    "ROLES",
    "ApiKey",
    "ApiKeyError",
    "create_key",
    "hash_secret",
    "list_keys",
    "revoke_key",
    "split_key",
    "touch_keys",
    "verify_key",
]

ROLES = ("viewer", "operator", "admin")


class ApiKeyError(IngestError):
    """A key operation was refused (unknown key, bad role)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    id: int
    name: str
    prefix: str
    role: str
    districts: tuple[str, ...] | None  # None: every district
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_secret(key: str) -> str:
    """The stored form of a whole key."""
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cg" or len(parts[1]) != 8 or len(parts[2]) < 32:
        return None
    return parts[1]


def _row(r: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=r["id"],
        name=r["name"],
        prefix=r["prefix"],
        role=r["role"],
        districts=tuple(r["districts"]) if r["districts"] is not None else None,
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        last_used_at=r["last_used_at"],
    )


_COLUMNS = "id, name, prefix, role, districts, created_at, revoked_at, last_used_at"


async def create_key(
    conn: Conn, name: str, role: str, districts: Sequence[str] | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the full key text (shown once, never stored)."""
    if role not in ROLES:
        raise ApiKeyError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    if not name.strip():
        raise ApiKeyError("a key needs a name (who or what uses it)")
    for _ in range(5):
        prefix = secrets.token_hex(4)
        key = f"cg_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            r = await conn.fetchrow(
                f"INSERT INTO api_keys (name, prefix, key_hash, role, districts) "  # noqa: S608
                f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
                name.strip(),
                prefix,
                hash_secret(key),
                role,
                list(districts) if districts else None,
            )
        except asyncpg.UniqueViolationError:
            continue  # the same random prefix twice: draw again
        assert r is not None
        return _row(r), key
    raise ApiKeyError("could not draw a unique key prefix")


async def verify_key(conn: Conn, key: str) -> ApiKey | None:
    """The live (not revoked) key this text is, else None. Constant-time comparison."""
    prefix = split_key(key)
    if prefix is None:
        return None
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE prefix = $1",  # noqa: S608
        prefix,
    )
    if r is None or r["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(str(r["key_hash"]), hash_secret(key)):
        return None
    return _row(r)


async def touch_keys(conn: Conn, ids: Sequence[int]) -> None:
    """Record that these keys were used (written in bulk, not per request)."""
    if ids:
        await conn.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::int[])", list(ids)
        )


async def list_keys(conn: Conn) -> list[ApiKey]:
    """Every key, newest first (secrets are not stored, so none are shown)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"  # noqa: S608
    )
    return [_row(r) for r in rows]


async def revoke_key(conn: Conn, prefix: str) -> ApiKey:
    """Revoke a key by its prefix (idempotent); returns it."""
    r = await conn.fetchrow(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "  # noqa: S608
        f"WHERE prefix = $1 RETURNING {_COLUMNS}",
        prefix,
    )
    if r is None:
        raise ApiKeyError(f"no API key with prefix {prefix!r}")
    return _row(r)
