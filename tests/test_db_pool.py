"""The connection pool every process uses: first come, first served under contention;
acquire timeouts still apply; connections go back without a reset round trip."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ingest.db import FairPool, open_pool


async def served_order(pool: asyncpg.Pool, waiters: int = 10) -> list[int]:
    """Queue ``waiters`` acquirers behind a held connection, then release it while a
    new acquirer shows up at every turn of the event loop; the order they were served."""
    served: list[int] = []
    holder = await pool.acquire()

    async def acquirer(i: int) -> None:
        async with pool.acquire() as conn:
            served.append(i)
            await conn.fetchval("SELECT 1")

    async with asyncio.TaskGroup() as tg:
        for i in range(waiters):
            tg.create_task(acquirer(i), name=f"waiter-{i}")
        await asyncio.sleep(0.05)  # all of them wait now
        await pool.release(holder)
        # With asyncio.Queue's get, a newcomer that asks while a released connection is
        # on its way to the oldest waiter takes it, and that waiter queues again.
        for j in range(waiters, waiters + 300):
            tg.create_task(acquirer(j), name=f"newcomer-{j}")
            await asyncio.sleep(0)
    return served


async def test_waiters_get_connections_in_the_order_they_asked(database_url: str) -> None:
    async with open_pool(database_url, min_size=1, max_size=1) as pool:
        assert isinstance(pool, FairPool)
        served = await served_order(pool)
    assert served[:10] == list(range(10)), served[:20]
    assert sorted(served) == list(range(310))


async def test_acquire_timeout_applies_while_waiting_for_a_turn(database_url: str) -> None:
    async with open_pool(database_url, min_size=1, max_size=1) as pool:
        async with pool.acquire():
            with pytest.raises(TimeoutError):
                await pool.acquire(timeout=0.1)
        # The timed-out waiter left no turn behind: the pool still serves.
        async with pool.acquire(timeout=1) as conn:
            assert await conn.fetchval("SELECT 1") == 1
        assert await pool.fetchval("SELECT 2") == 2


async def test_a_foreign_connection_does_not_give_away_a_turn(database_url: str) -> None:
    other = await asyncpg.connect(database_url)
    try:
        async with open_pool(database_url, min_size=1, max_size=1) as pool:
            with pytest.raises(asyncpg.InterfaceError):
                await pool.release(other)  # type: ignore[arg-type]
            conn = await pool.acquire()
            await pool.release(conn)
            await pool.release(conn)  # twice: asyncpg ignores it, and so do the turns
            async with pool.acquire():
                with pytest.raises(TimeoutError):
                    await pool.acquire(timeout=0.1)  # still only one at a time
    finally:
        await other.close()


async def test_released_connections_keep_no_open_transaction(database_url: str) -> None:
    async with open_pool(database_url, min_size=1, max_size=1) as pool:
        conn = await pool.acquire()
        tx = conn.transaction()
        await tx.start()
        await conn.execute("CREATE TEMP TABLE t_pool (x int)")
        await pool.release(conn)  # asyncpg rolls the transaction back
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT to_regclass('pg_temp.t_pool')") is None
