"""HTTP caching of open data: strong ETags (from the body, or from a cheap version of the
data computed before the query), ``If-None-Match`` -> 304, short ``Cache-Control``; and a
small in-process cache that lets many clients share one query for a second."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from time import monotonic

from fastapi import Request, Response

__all__ = ["CachedBody", "ResponseCache", "etag_of", "etag_of_version", "not_modified", "send"]

# Bump when a representation changes, so version-based ETags of old builds never match.
REPRESENTATION = b"citygate-opendata-1"


def etag_of(body: bytes) -> str:
    """A strong ETag from the bytes sent."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_of_version(*parts: object) -> str:
    """A strong ETag from what the body is a pure function of (request and data version)."""
    h = hashlib.blake2b(REPRESENTATION, digest_size=16)
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\0")
    return '"' + h.hexdigest() + '"'


def not_modified(request: Request, etag: str) -> bool:
    """True when ``If-None-Match`` lists ``etag`` (weak comparison, RFC 9110) or is ``*``."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    for part in header.split(","):
        tag = part.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def caching_headers(etag: str | None, max_age: int, vary: str | None = None) -> dict[str, str]:
    """ETag, Cache-Control (and Vary) for a cacheable response."""
    headers = {"Cache-Control": f"public, max-age={max_age}"}
    if etag is not None:
        headers["ETag"] = etag
    if vary:
        headers["Vary"] = vary
    return headers


def send(
    request: Request,
    body: bytes,
    media_type: str,
    max_age: int,
    *,
    etag: str | None = None,
    vary: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The body with caching headers, or 304 when the client holds this version."""
    etag = etag or etag_of(body)
    cache = caching_headers(etag, max_age, vary)
    if not_modified(request, etag):
        return Response(status_code=304, headers=cache)
    return Response(body, media_type=media_type, headers={**cache, **(headers or {})})


@dataclass(frozen=True, slots=True)
class CachedBody:
    """A representation ready to send."""

    body: bytes
    media_type: str
    etag: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:
    expires: float
    value: CachedBody | None
    lock: asyncio.Lock
    refreshing: bool = False


class ResponseCache:
    """Representations kept ``ttl_s`` seconds per key (LRU, at most ``max_entries``);
    concurrent misses of one key run the query once and share the result.

    An expired representation is renewed by the first request that finds it expired;
    requests arriving meanwhile get the previous one (stale-while-revalidate, at most
    ``max_stale_s`` past its expiry) instead of queueing behind the renewal: on a busy
    event loop a renewal's few awaits take a while, and every request for the key would
    wait that long.
    """

    def __init__(self, ttl_s: float, max_entries: int = 256, max_stale_s: float = 30.0) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._max_stale = max_stale_s
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    async def get(self, key: Hashable, produce: Callable[[], Awaitable[CachedBody]]) -> CachedBody:
        """The cached representation of ``key``, produced if missing or expired."""
        entry = self._entries.get(key)
        if entry is not None and entry.value is not None:
            now = monotonic()
            if entry.expires > now or (entry.refreshing and now < entry.expires + self._max_stale):
                self._entries.move_to_end(key)
                return entry.value
        if entry is None:
            entry = _Entry(0.0, None, asyncio.Lock())
            self._entries[key] = entry
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        async with entry.lock:
            if entry.value is not None and entry.expires > monotonic():
                return entry.value
            entry.refreshing = True
            try:
                value = await produce()
            finally:
                entry.refreshing = False
            entry.value, entry.expires = value, monotonic() + self._ttl
            return value

    def clear(self) -> None:
        """Forget everything (after a change through the API itself)."""
        self._entries.clear()
