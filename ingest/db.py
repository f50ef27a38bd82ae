"""Connections and the pool, with connection failures translated at the edge."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# A connection of its own or one borrowed from a pool: queries take either.
Conn = asyncpg.Connection | PoolConnectionProxy

__all__ = ["Conn", "connect", "connection", "create_database", "describe_url", "open_pool"]


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a database URL, without credentials, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


def _unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError | OSError) and not isinstance(
        exc, asyncpg.PostgresError
    ):
        reason = exc.strerror or reason
    return DatabaseUnavailable(
        f"cannot reach PostgreSQL at {describe_url(url)} (CITYGATE_DATABASE_URL): {reason}"
    )


_CONNECT_ERRORS = (
    OSError,
    socket.gaierror,
    asyncio.TimeoutError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.CannotConnectNowError,
)


async def connect(url: str, timeout: float = 10.0) -> asyncpg.Connection:
    """One connection; a failure to connect becomes :class:`DatabaseUnavailable`."""
    try:
        return await asyncpg.connect(url, timeout=timeout)
    except _CONNECT_ERRORS as exc:
        raise _unavailable(url, exc) from None


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection as an async context manager (closed on exit)."""
    conn = await connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def open_pool(
    url: str, *, min_size: int = 1, max_size: int = 4, **kwargs: Any
) -> AsyncIterator[asyncpg.Pool]:
    """A pool as an async context manager; it is closed (waiting, then terminating) on exit."""
    try:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, timeout=10.0, **kwargs
        )
    except _CONNECT_ERRORS as exc:
        raise _unavailable(url, exc) from None
    try:
        yield pool
    finally:
        try:
            await asyncio.wait_for(pool.close(), timeout=10.0)
        except TimeoutError:
            log.warning("database pool did not close in 10 s; terminating it")
            pool.terminate()


async def create_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True when created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        return False
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        # Identifiers cannot be bound; quote_ident makes the name safe.
        quoted = await conn.fetchval("SELECT quote_ident($1)", name)
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            return False
        log.info("created database %s", name)
        return True
    finally:
        await conn.close()
