"""Live updates: committed readings fanned out to Server-Sent Events clients.

The hub subscribes to the feed of committed readings only while someone listens (the
gateway flattens a batch only if the feed has subscribers). The feed callback just puts
the batch on the hub's bounded queue; the hub's task matches it against each client's
filter with numpy masks and hands every client one chunk of encoded events. A client's
buffer is bounded in bytes: events that do not fit are dropped and counted, and the
client is told how many readings it missed (``event: dropped``). Nothing grows without
bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import asyncpg
import numpy as np
import numpy.typing as npt
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from ingest.feed import CommitFeed, Committed
from ingest.queries.buckets import from_us

from ..context import MetricCatalogue

log = logging.getLogger(__name__)

__all__ = ["LiveClient", "LiveFilter", "LiveHub"]

HEARTBEAT = b": keep-alive\n\n"
_DEVICE_MAP_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class LiveFilter:
    """What a client follows; every given part must match (None: any)."""

    device_key: int | None = None
    metric_id: int | None = None
    district: str | None = None


class LiveClient:
    """One connected client: its filter and a byte-bounded buffer of encoded events."""

    __slots__ = ("_bytes", "_chunks", "_max_bytes", "dropped", "filter", "ready")

    def __init__(self, flt: LiveFilter, max_bytes: int) -> None:
        self.filter = flt
        self._max_bytes = max_bytes
        self._chunks: deque[bytes] = deque()
        self._bytes = 0
        self.dropped = 0  # readings dropped since the client was last told
        self.ready = asyncio.Event()

    def offer(self, events: list[bytes]) -> int:
        """Queue as many events as the buffer holds; the rest are dropped and counted.
        Returns how many were queued."""
        room = self._max_bytes - self._bytes
        taken = 0
        size = 0
        for event in events:
            if size + len(event) > room:
                break
            size += len(event)
            taken += 1
        if taken:
            self._chunks.append(b"".join(events[:taken]))
            self._bytes += size
        self.dropped += len(events) - taken
        self.ready.set()
        return taken

    async def next(self, timeout: float) -> bytes:
        """What to send next: queued events (after a notice of any drops), or a heartbeat
        comment when nothing came for ``timeout`` seconds."""
        if not self._chunks and not self.dropped:
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except TimeoutError:
                return HEARTBEAT
        parts = []
        if self.dropped:
            notice = orjson.dumps({"dropped": self.dropped})
            parts.append(b"event: dropped\ndata: " + notice + b"\n\n")
            self.dropped = 0
        parts.extend(self._chunks)
        self._chunks.clear()
        self._bytes = 0
        return b"".join(parts)


class LiveMetrics:
    """Prometheus metrics of the hub."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.clients = Gauge("citygate_live_clients", "Connected live-update clients",
                             registry=registry)  # fmt: skip
        self.events = Counter("citygate_live_events_total", "Reading events queued to clients",
                              registry=registry)  # fmt: skip
        self.dropped = Counter(
            "citygate_live_dropped_total",
            "Readings not delivered to live clients, by reason",
            ["reason"],
            registry=registry,
        )


class LiveHub:
    """Fan-out of the commit feed to SSE clients; :meth:`run` is the hub's task."""

    def __init__(
        self,
        feed: CommitFeed,
        pool: asyncpg.Pool,
        catalogue: MetricCatalogue,
        registry: CollectorRegistry,
        *,
        queue_batches: int = 64,
        client_bytes: int = 1 << 20,
        max_clients: int = 1000,
        heartbeat_s: float = 15.0,
    ) -> None:
        self._feed = feed
        self._pool = pool
        self._names = catalogue.by_id
        self._queue: asyncio.Queue[Committed] = asyncio.Queue(maxsize=queue_batches)
        self._clients: set[LiveClient] = set()
        self._client_bytes = client_bytes
        self._max_clients = max_clients
        self.heartbeat_s = heartbeat_s
        self.metrics = LiveMetrics(registry)
        # device_key -> (device id, district), reloaded when stale or unknown
        self._devices: dict[int, tuple[str, str | None]] = {}
        self._loaded_at = 0.0
        self._feed_name = f"live-updates-{id(self):x}"

    @property
    def clients(self) -> int:
        """Connected clients."""
        return len(self._clients)

    @property
    def full(self) -> bool:
        """True when no more clients are taken (checked before a stream starts)."""
        return len(self._clients) >= self._max_clients

    def add(self, flt: LiveFilter) -> LiveClient:
        """A new client; the hub listens to the feed from the first client on."""
        client = LiveClient(flt, self._client_bytes)
        if not self._clients:
            self._feed.subscribe(self._feed_name, self._on_commit)
        self._clients.add(client)
        self.metrics.clients.set(len(self._clients))
        return client

    def remove(self, client: LiveClient) -> None:
        """A client went away; with the last one the hub stops listening to the feed."""
        self._clients.discard(client)
        self.metrics.clients.set(len(self._clients))
        if not self._clients:
            self._feed.unsubscribe(self._feed_name)

    def _on_commit(self, committed: Committed) -> None:
        # Runs in the committer's stack: never block, never wait.
        try:
            self._queue.put_nowait(committed)
        except asyncio.QueueFull:
            self.metrics.dropped.labels("hub_queue_full").inc(len(committed))
            log.warning("live updates: hub queue full, %d readings not sent", len(committed))

    async def run(self) -> None:
        """Dispatch committed batches to clients, forever."""
        while True:
            committed = await self._queue.get()
            if not self._clients:
                continue
            try:
                await self.dispatch(committed)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.metrics.dropped.labels("database").inc(len(committed))
                log.warning("live updates: device lookup failed (%s); batch not sent", exc)

    async def dispatch(self, c: Committed) -> None:
        """Match one committed batch against every client and queue its events."""
        keys = np.unique(c.device_key)
        if time.monotonic() - self._loaded_at > _DEVICE_MAP_TTL_S:
            self._devices.clear()
        missing = [int(k) for k in keys if int(k) not in self._devices]
        if missing:
            await self._load(missing)
        by_district: dict[str | None, npt.NDArray[np.int32]] = {}
        encoded: dict[int, bytes] = {}
        for client in list(self._clients):
            mask = self._mask(c, client.filter, keys, by_district)
            idx = np.flatnonzero(mask)
            if not len(idx):
                continue
            events = [e for e in (self._event(c, int(i), encoded) for i in idx) if e]
            if not events:
                continue
            taken = client.offer(events)
            self.metrics.events.inc(taken)
            if taken < len(events):
                self.metrics.dropped.labels("client_slow").inc(len(events) - taken)

    def _mask(
        self,
        c: Committed,
        flt: LiveFilter,
        keys: npt.NDArray[np.int32],
        by_district: dict[str | None, npt.NDArray[np.int32]],
    ) -> npt.NDArray[np.bool_]:
        mask = np.ones(len(c), dtype=np.bool_)
        if flt.device_key is not None:
            mask &= c.device_key == flt.device_key
        if flt.metric_id is not None:
            mask &= c.metric_id == flt.metric_id
        if flt.district is not None:
            in_district = by_district.get(flt.district)
            if in_district is None:
                in_district = np.array(
                    [k for k in keys if self._devices.get(int(k), ("", None))[1] == flt.district],
                    dtype=np.int32,
                )
                by_district[flt.district] = in_district
            mask &= np.isin(c.device_key, in_district)
        return mask

    def _event(self, c: Committed, i: int, encoded: dict[int, bytes]) -> bytes:
        event = encoded.get(i)
        if event is None:
            device = self._devices.get(int(c.device_key[i]))
            metric = self._names.get(int(c.metric_id[i]))
            if device is None or metric is None:
                event = b""
            else:
                data: dict[str, object] = {
                    "device": device[0],
                    "metric": metric,
                    "time": from_us(int(c.time_us[i])),
                    "value": float(c.value[i]),
                }
                state = c.state[i] if c.state is not None else None
                if state is not None:
                    data["state"] = state
                data["received_at"] = from_us(int(c.received_us[i]))
                body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
                event = b"event: reading\ndata: " + body + b"\n\n"
            encoded[i] = event
        return event

    async def _load(self, missing: list[int]) -> None:
        async with self._pool.acquire(timeout=5) as conn:
            if not self._devices:
                rows = await conn.fetch("SELECT device_key, id, district FROM devices")
                self._loaded_at = time.monotonic()
            else:
                rows = await conn.fetch(
                    "SELECT device_key, id, district FROM devices "
                    "WHERE device_key = ANY($1::int[])",
                    missing,
                )
        for r in rows:
            self._devices[int(r["device_key"])] = (str(r["id"]), r["district"])
