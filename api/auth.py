"""Operator authentication: API keys with roles (viewer < operator < admin) and an
optional district scope.

A key comes in ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Verified keys are
cached for ``ApiConfig.key_cache_s`` seconds (so a revocation takes effect within that
time) and their last use is written in bulk, not per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
from fastapi import HTTPException, Request

from ingest.queries.api_keys import ApiKey, hash_secret, touch_keys, verify_key

log = logging.getLogger(__name__)

__all__ = ["ROLE_LEVEL", "Authenticator", "Principal", "key_from_request"]

ROLE_LEVEL = {"viewer": 1, "operator": 2, "admin": 3}
_NEGATIVE_CACHE_S = 5.0
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a verified key."""

    key_id: int
    name: str
    prefix: str
    role: str
    districts: frozenset[str] | None  # None: every district

    def has_role(self, role: str) -> bool:
        """True when this key's role is ``role`` or above."""
        return ROLE_LEVEL[self.role] >= ROLE_LEVEL[role]

    def may_access(self, district: str | None) -> bool:
        """True when the key's scope covers an object in ``district``."""
        return self.districts is None or (district is not None and district in self.districts)

    def check_district(self, district: str | None, what: str) -> None:
        """Refuse (403) an object outside the key's district scope."""
        if not self.may_access(district):
            raise HTTPException(
                403, f"this API key is limited to districts {sorted(self.districts or ())}; "
                f"{what} is in {district or 'no district'}",
            )  # fmt: skip

    def check_districts(self, districts: Iterable[str | None], what: str) -> None:
        """Refuse (403) unless every one of ``districts`` is in scope."""
        for d in districts:
            self.check_district(d, what)

    @property
    def actor(self) -> str:
        """How this caller appears in histories (alarm events, request notes)."""
        return f"key:{self.prefix} ({self.name})"


def key_from_request(request: Request) -> str | None:
    """The key a request carries, if any."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Authenticator:
    """Verifies keys against the database, with a short cache."""

    def __init__(self, pool: asyncpg.Pool, cache_s: float = 30.0) -> None:
        self._pool = pool
        self._cache_s = cache_s
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._used: set[int] = set()

    async def verify(self, key: str) -> Principal | None:
        """The principal for ``key``, or None for an unknown, malformed or revoked key."""
        digest = hash_secret(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            principal = hit[0]
        else:
            async with self._pool.acquire() as conn:
                found = await verify_key(conn, key)
            principal = None if found is None else _principal(found)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            ttl = self._cache_s if principal is not None else _NEGATIVE_CACHE_S
            self._cache[digest] = (principal, now + ttl)
        if principal is not None:
            self._used.add(principal.key_id)
        return principal

    def forget(self) -> None:
        """Drop the cache (after a key is revoked through the API)."""
        self._cache.clear()

    async def run(self, every: float = 60.0) -> None:
        """Write keys' last use periodically, forever."""
        while True:
            await asyncio.sleep(every)
            await self.flush()

    async def flush(self) -> None:
        """Write the last use of the keys used since the previous flush."""
        used, self._used = self._used, set()
        if not used:
            return
        try:
            async with self._pool.acquire() as conn:
                await touch_keys(conn, sorted(used))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not record API key use (%s)", exc)
            self._used |= used


def _principal(key: ApiKey) -> Principal:
    return Principal(
        key.id,
        key.name,
        key.prefix,
        key.role,
        None if key.districts is None else frozenset(key.districts),
    )
