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

__all__ = [
    "Conn",
    "FairPool",
    "connect",
    "connection",
    "create_database",
    "describe_url",
    "open_pool",
]


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


_POOL_DEFAULTS: dict[str, Any] = {
    "max_queries": 50000,
    "max_inactive_connection_lifetime": 300.0,
    "loop": None,
    "connection_class": asyncpg.Connection,
    "record_class": asyncpg.Record,
}


class FairPool(asyncpg.Pool):
    """asyncpg's pool, handing out connections first come, first served.

    asyncpg waits for a free connection in an ``asyncio.Queue``, whose ``get`` lets a
    newcomer take a just-released connection before the waiter it was released to has
    run; that waiter goes to the back of the line. Under load some requests lose again
    and again: on the API benchmark a pool of 4 behind 50 clients had a p99 five times
    its median. Here a fair semaphore (FIFO since Python 3.11) admits as many acquirers
    as the pool has connections, so the queue never has more than one taker at a time.
    """

    def __init__(self, *args: Any, max_size: int, **kwargs: Any) -> None:
        for name, default in _POOL_DEFAULTS.items():  # what asyncpg.create_pool passes
            kwargs.setdefault(name, default)
        super().__init__(*args, max_size=max_size, **kwargs)
        self._turns = asyncio.Semaphore(max_size)
        self._admitted: set[int] = set()  # ids of the proxies handed out through the gate

    async def _acquire(self, timeout: float | None) -> PoolConnectionProxy:
        # The timeout bounds the wait for a turn; past the gate a connection is free (or
        # being opened, under its connect timeout), so asyncpg's own acquire timeout,
        # which runs the acquire as a task of its own (two more turns of the event loop
        # per request), is not needed.
        if self._turns.locked():
            async with asyncio.timeout(timeout):
                await self._turns.acquire()
        else:
            await self._turns.acquire()  # free: returns at once
        try:
            proxy: PoolConnectionProxy = await super()._acquire(None)  # type: ignore[misc]
        except BaseException:
            self._turns.release()
            raise
        self._admitted.add(id(proxy))
        return proxy

    async def release(
        self, connection: PoolConnectionProxy, *, timeout: float | None = None
    ) -> None:
        """Give the connection back (and its turn to the next acquirer)."""
        try:
            await super().release(connection, timeout=timeout)
        finally:
            if id(connection) in self._admitted:
                self._admitted.discard(id(connection))
                self._turns.release()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A pool's reset that sends nothing (asyncpg has already rolled back an open
    transaction and dropped listener callbacks by then)."""


@asynccontextmanager
async def open_pool(
    url: str, *, min_size: int = 1, max_size: int = 4, **kwargs: Any
) -> AsyncIterator[asyncpg.Pool]:
    """A pool as an async context manager; it is closed (waiting, then terminating) on exit.

    A connection goes back to the pool without asyncpg's reset query (advisory unlock,
    CLOSE ALL, UNLISTEN, RESET ALL): that is a round trip on every release, about a
    tenth of an open data request's cost. So code must leave no session state on a
    pooled connection: ``SET LOCAL`` and transaction-level advisory locks only, LISTEN
    on connections of its own (as the device registry and the rules engine do). Pass
    ``reset=None`` for asyncpg's default.
    """
    kwargs.setdefault("reset", _keep_session)
    try:
        pool = await FairPool(url, min_size=min_size, max_size=max_size, timeout=10.0, **kwargs)
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
