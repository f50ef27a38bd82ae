"""Per-client rate limiting of keyless requests, as pure ASGI middleware so it covers every
route of the app (open data, SensorThings, Open311) without each of them opting in.

A token bucket per client IP: ``rate`` tokens a second, at most ``burst``. A request
without a token gets 429 with ``Retry-After`` (in the error format of its path prefix).
Requests carrying a valid API key are not limited: a well-formed key is verified once
and then remembered for ``key_ttl_s``; the lookups a client may cause are rate limited
themselves, so random keys cannot hammer the key table (their requests count as keyless).
Memory is bounded: buckets idle long enough to be full again are forgotten, and at most
``max_clients`` are kept (least recently used first). Health, readiness and metrics are
never limited.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg
from prometheus_client import CollectorRegistry, Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest.queries.api_keys import hash_secret, split_key

from .errors import ErrorFormatter

log = logging.getLogger(__name__)

__all__ = ["RateLimitMiddleware", "TokenBuckets"]

KeyVerifier = Callable[[str], Awaitable[object | None]]
SKIP_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_LOOKUPS_PER_S = 1.0
_LOOKUP_BURST = 5


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets by client, with bounded memory."""

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._max = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._idle_s = self.burst / rate  # a bucket idle this long is full: forget it
        self._swept: float | None = None

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, now: float | None = None) -> float:
        """Take a token; returns 0.0 on success, else the seconds until one is due."""
        now = time.monotonic() if now is None else now
        b = self._buckets.get(client)
        if b is None:
            b = self._buckets[client] = _Bucket(self.burst, now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
            self._buckets.move_to_end(client)
        if self._swept is None:
            self._swept = now
        elif now - self._swept > min(self._idle_s, 60.0):
            self._sweep(now)
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        self._swept = now
        # Least recently used first: stop at the first bucket still in use.
        while self._buckets:
            client, b = next(iter(self._buckets.items()))
            if now - b.at < self._idle_s:
                break
            del self._buckets[client]


class RateLimitMiddleware:
    """ASGI middleware: 429 for keyless clients over their rate."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        burst: int,
        verify_key: KeyVerifier,
        key_ttl_s: float,
        formatters: Mapping[str, ErrorFormatter],
        registry: CollectorRegistry,
        max_clients: int = 100_000,
    ) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst, max_clients)
        # Key lookups a client may cause (a few a second): made-up keys cannot hammer the
        # key table, and a real key works even when its address used up its requests.
        self._lookups = TokenBuckets(_LOOKUPS_PER_S, _LOOKUP_BURST, max_clients)
        self._verify = verify_key
        self._key_ttl = key_ttl_s
        self._known_keys: OrderedDict[str, float] = OrderedDict()  # digest -> valid until
        self._formatters = formatters
        self.limited = Counter(
            "citygate_api_rate_limited_total", "Requests refused with 429", registry=registry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in SKIP_PATHS:
            await self.app(scope, receive, send)
            return
        key = _key_of(scope)
        digest = hash_secret(key) if key is not None and split_key(key) else None
        if digest is not None and self._key_known(digest):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if (
            digest is not None
            and key is not None
            and not self._lookups.take(address)
            and await self._valid(key)
        ):
            self._remember(digest)
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(address)
        if wait:
            self.limited.inc()
            await self._refuse(scope, receive, send, wait)
            return
        await self.app(scope, receive, send)

    async def _valid(self, key: str) -> bool:
        try:
            return await self._verify(key) is not None
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("rate limit: could not verify an API key (%s)", exc)
            return False

    def _key_known(self, digest: str) -> bool:
        until = self._known_keys.get(digest)
        if until is None:
            return False
        if until < time.monotonic():
            del self._known_keys[digest]
            return False
        return True

    def _remember(self, digest: str) -> None:
        self._known_keys[digest] = time.monotonic() + self._key_ttl
        self._known_keys.move_to_end(digest)
        while len(self._known_keys) > 10_000:
            self._known_keys.popitem(last=False)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, wait: float) -> None:
        b = self.buckets
        message = (
            f"too many requests: keyless clients may make {b.rate:g} requests a second "
            f"(bursts of {b.burst:g}); retry in {wait:.1f} s, or use an API key"
        )
        headers = {"Retry-After": str(max(1, math.ceil(wait)))}
        request = Request(scope, receive)
        response = _formatter_for(self._formatters, scope["path"])(request, 429, message, headers)
        await response(scope, receive, send)


def _key_of(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip() or None
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                return rest.strip()
    return None


def _default(
    request: Request, status: int, message: str, headers: dict[str, str] | None
) -> Response:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _formatter_for(formatters: Mapping[str, ErrorFormatter], path: str) -> ErrorFormatter:
    best = ""
    for prefix in formatters:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return formatters[best] if best else _default
