"""The API's in-process caches: the shared one-second cache serves the previous answer
while one request renews it, and the cache of final history answers keeps within its
bytes, forgets expired answers and counts what it found."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from api.open_data.final_cache import FinalAnswers, RecentValues
from api.open_data.http_cache import CachedBody, ResponseCache


def body(text: str) -> CachedBody:
    return CachedBody(text.encode(), "application/json", f'"{text}"')


async def test_requests_during_a_renewal_get_the_previous_answer() -> None:
    cache = ResponseCache(ttl_s=0.05)
    release = asyncio.Event()
    calls = 0

    async def produce() -> CachedBody:
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()  # a slow renewal
        return body(f"v{calls}")

    assert (await cache.get("k", produce)).body == b"v1"
    await asyncio.sleep(0.06)  # expired
    renewal = asyncio.create_task(cache.get("k", produce), name="renewal")
    await asyncio.sleep(0)
    # While the renewal waits, others are answered at once with the previous answer.
    others = await asyncio.wait_for(
        asyncio.gather(*(cache.get("k", produce) for _ in range(5))), timeout=1
    )
    assert [o.body for o in others] == [b"v1"] * 5
    release.set()
    assert (await renewal).body == b"v2"
    assert (await cache.get("k", produce)).body == b"v2"
    assert calls == 2


async def test_a_failed_renewal_reaches_only_its_request() -> None:
    cache = ResponseCache(ttl_s=0.01)

    async def good() -> CachedBody:
        return body("ok")

    async def bad() -> CachedBody:
        raise RuntimeError("database away")

    await cache.get("k", good)
    await asyncio.sleep(0.02)
    try:
        await cache.get("k", bad)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the renewal's error was swallowed")
    assert (await cache.get("k", good)).body == b"ok"  # renewed by the next request


async def test_cleared_entries_are_produced_again_not_served_stale() -> None:
    cache = ResponseCache(ttl_s=60)
    n = 0

    async def produce() -> CachedBody:
        nonlocal n
        n += 1
        return body(f"v{n}")

    await cache.get("k", produce)
    cache.clear()  # an operator changed a device
    assert (await cache.get("k", produce)).body == b"v2"


def test_final_answers_stay_within_their_bytes_least_recently_used_first() -> None:
    registry = CollectorRegistry()
    cache = FinalAnswers(max_bytes=1000, registry=registry)
    for i in range(5):
        cache.put(i, bytes(200))
    assert cache.size == 1000 and len(cache) == 5
    assert cache.get(0) is not None  # 0 is now the most recently used
    cache.put(5, bytes(200))
    assert cache.get(1) is None and cache.get(0) is not None
    assert cache.size <= 1000
    cache.put("big", bytes(300))  # more than a quarter of the cache: not kept
    assert cache.get("big") is None
    hits = registry.get_sample_value("citygate_api_history_cache_lookups_total", {"result": "hit"})
    misses = registry.get_sample_value(
        "citygate_api_history_cache_lookups_total", {"result": "miss"}
    )
    assert (hits, misses) == (2, 2)
    assert registry.get_sample_value("citygate_api_history_cache_bytes") == cache.size


async def test_final_answers_expire() -> None:
    cache = FinalAnswers(max_bytes=1000, registry=CollectorRegistry(), ttl_s=0.02)
    cache.put("k", b"x")
    assert cache.get("k") == b"x"
    await asyncio.sleep(0.03)
    assert cache.get("k") is None and cache.size == 0


def test_no_memory_keeps_nothing() -> None:
    cache = FinalAnswers(max_bytes=0, registry=CollectorRegistry())
    cache.put("k", b"x")
    assert cache.get("k") is None and len(cache) == 0


async def test_recent_values_are_renewed_ahead_by_one_caller() -> None:
    recent: RecentValues[str, int] = RecentValues(ttl_s=0.1)
    assert recent.get("d") == (None, False)
    recent.put("d", 1)
    assert recent.get("d") == (1, False)  # young: nobody renews
    await asyncio.sleep(0.06)  # past half its life
    assert recent.get("d") == (1, True)  # this caller renews ...
    assert recent.get("d") == (1, False)  # ... the others keep using the value
    recent.renewal_failed("d")
    assert recent.get("d") == (1, True)  # another caller may try
    recent.put("d", 2)
    assert recent.get("d") == (2, False)
    await asyncio.sleep(0.11)
    assert recent.get("d") == (None, False)  # expired: looked up by whoever asks
    recent.put("d", 3)
    recent.discard("d")
    assert recent.get("d") == (None, False)
