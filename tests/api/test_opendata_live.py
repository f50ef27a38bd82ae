"""Live updates: a reading published over MQTT through a real gateway reaches SSE clients
that follow its device, metric or district; heartbeats; disconnects; slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import orjson
from prometheus_client import CollectorRegistry

from api.context import MetricCatalogue
from api.open_data.live import HEARTBEAT, LiveFilter, LiveHub
from ingest.db import open_pool
from ingest.feed import CommitFeed, Committed
from tests.api.opendata_data import seed
from tests.support.api import running_api
from tests.support.broker import Broker
from tests.support.gateway import config_for, publish, running_gateway, scheme_for


@contextlib.asynccontextmanager
async def sse(client: httpx.AsyncClient, params: dict[str, str]) -> AsyncIterator[
    asyncio.Queue[tuple[str, str]]
]:  # fmt: skip
    """Follow /api/v1/live; yields a queue of (event, data) and ("comment", text)."""
    events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with client.stream("GET", "/api/v1/live", params=params, timeout=30) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            opened.set()
            event = "message"
            async for line in r.aiter_lines():
                if line.startswith(":"):
                    await events.put(("comment", line[1:].strip()))
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    await events.put((event, line[5:].strip()))
                    event = "message"

    task = asyncio.create_task(read(), name="sse-reader")
    await asyncio.wait({task, asyncio.create_task(opened.wait())}, timeout=10,
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    if task.done():
        task.result()
    try:
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_reading(q: asyncio.Queue[tuple[str, str]], timeout: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        event, data = await asyncio.wait_for(q.get(), max(0.1, deadline - time.monotonic()))
        if event == "reading":
            return dict(orjson.loads(data))


async def test_reading_published_over_mqtt_reaches_sse_clients(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    await seed(database_url)
    feed = CommitFeed()
    config = config_for(database_url, broker.port, topic_prefix)
    async with running_gateway(config, feed=feed), running_api(database_url, feed=feed) as api:
        hub = api.service.app.state.open_data.hub
        hub.heartbeat_s = 0.3
        c = api.client
        async with (
            sse(c, {"device": "aq-1"}) as by_device,
            sse(c, {"district": "Harbour", "metric": "LAeq"}) as by_district,
            sse(c, {"metric": "no2"}) as by_metric,
        ):
            assert hub.clients == 3 and feed.active
            ts = time.time() - 1
            topics = scheme_for(topic_prefix)
            await publish(broker.port, [
                (topics.telemetry_topic("aq-1", "json"),
                 orjson.dumps({"id": "aq-1", "ts": ts, "values": {"pm25": 17.5, "no2": 33.0}})),
                (topics.telemetry_topic("noise-1", "json"),
                 orjson.dumps({"id": "noise-1", "ts": ts, "values": {"LAeq": 58.5, "LAmax": 70.0,
                                                                        "LAS": 55.0}})),
            ])  # fmt: skip
            got = [await next_reading(by_device), await next_reading(by_device)]
            assert {(g["metric"], g["value"]) for g in got} == {("pm25", 17.5), ("no2", 33.0)}
            assert all(g["device"] == "aq-1" for g in got)
            sent_at = datetime.fromisoformat(str(got[0]["time"])).timestamp()
            assert abs(sent_at - ts) < 0.001  # the device's own time
            noise = await next_reading(by_district)
            assert (noise["device"], noise["metric"], noise["value"]) == ("noise-1", "LAeq", 58.5)
            only_no2 = await next_reading(by_metric)
            assert (only_no2["device"], only_no2["metric"]) == ("aq-1", "no2")
            # Nothing else matched those filters: the next thing each sees is a heartbeat.
            for q in (by_district, by_metric):
                event, text = await asyncio.wait_for(q.get(), 10)
                assert (event, text) == ("comment", "keep-alive")
        # Clients that went away are gone from the hub, and it stops listening to the feed.
        deadline = time.monotonic() + 10
        while hub.clients and time.monotonic() < deadline:  # noqa: ASYNC110 - polls state
            await asyncio.sleep(0.05)
        assert hub.clients == 0 and not feed.active

        r = await c.get("/api/v1/live")
        assert r.status_code == 422 and "device" in r.json()["detail"]
        r = await c.get("/api/v1/live", params={"device": "nope"})
        assert r.status_code == 404


async def test_slow_client_drops_are_counted_and_reported(database_url: str) -> None:
    keys, mids = await seed(database_url)
    feed = CommitFeed()
    registry = CollectorRegistry()
    async with open_pool(database_url) as pool:
        hub = LiveHub(feed, pool, MetricCatalogue.of(mids), registry, client_bytes=2000)
        slow = hub.add(LiveFilter(device_key=keys["aq-1"]))
        now_us = int(time.time() * 1e6)

        def batch(n: int) -> Committed:
            return Committed.from_readings(
                [(keys["aq-1"], now_us + i, mids["pm25"], float(i), None) for i in range(n)],
                now_us,
            )

        # The client does not read: its buffer fills up to its byte bound, the rest is
        # dropped and counted.
        for _ in range(20):
            await hub.dispatch(batch(5))
        held = await slow.next(0.1)
        readings = held.count(b"event: reading")
        assert 0 < readings < 100
        assert len(held) <= 2000 + 100  # the bound, plus the drop notice
        assert held.startswith(b"event: dropped\ndata: ")
        notice = orjson.loads(held.split(b"\n")[1].removeprefix(b"data: "))
        assert notice == {"dropped": 100 - readings}
        assert (
            registry.get_sample_value("citygate_live_dropped_total", {"reason": "client_slow"})
            == 100 - readings
        )
        # A batch larger than the whole buffer still delivers what fits.
        await hub.dispatch(batch(100))
        part = await slow.next(0.1)
        delivered = part.count(b"event: reading")
        assert 0 < delivered < 100
        assert orjson.loads(part.split(b"\n")[1].removeprefix(b"data: ")) == {
            "dropped": 100 - delivered
        }
        # Once it reads again, it gets new readings and no stale notice.
        await hub.dispatch(batch(1))
        again = await slow.next(0.1)
        assert again.count(b"event: reading") == 1 and b"dropped" not in again
        assert await slow.next(0.05) == HEARTBEAT
        hub.remove(slow)
        assert not feed.active
