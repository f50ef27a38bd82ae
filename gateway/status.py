"""Devices' online/offline status and last seen: status from their last will (status
topic) and from silence longer than their profile's reporting interval allows. Both are
kept in memory per message and written to ``devices`` once per sweep (every few seconds),
in one statement each: no database round trip per message."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import asyncpg
import orjson

from ingest.db import Conn

from .metrics import GatewayMetrics
from .registry import DeviceEntry, DeviceRegistry

log = logging.getLogger(__name__)

__all__ = ["OFFLINE", "ONLINE", "StatusTracker", "parse_status_payload"]

ONLINE, OFFLINE = "online", "offline"


def parse_status_payload(payload: bytes) -> str | None:
    """``online``/``offline`` from a status message (plain text or ``{"status": ...}``)."""
    text = payload.strip().lower()
    if text in (b"online", b"offline"):
        return text.decode()
    if text.startswith(b"{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        value = obj.get("status") if isinstance(obj, dict) else None
        if value in (ONLINE, OFFLINE):
            return str(value)
    return None


_WRITE_SEEN = """
UPDATE devices d SET last_seen = to_timestamp(u.seen)
FROM unnest($1::int[], $2::float8[]) AS u(device_key, seen)
WHERE d.device_key = u.device_key AND (d.last_seen IS NULL OR d.last_seen < to_timestamp(u.seen))
"""

_WRITE = """
UPDATE devices d SET status = u.status, status_changed_at = u.at
FROM unnest($1::int[], $2::text[], $3::timestamptz[]) AS u(device_key, status, at)
WHERE d.device_key = u.device_key
"""


class StatusTracker:
    """Last-seen times and status per device, in memory."""

    def __init__(
        self, registry: DeviceRegistry, metrics: GatewayMetrics, silence_factor: float = 2.5
    ) -> None:
        self._registry = registry
        self._metrics = metrics
        self._factor = silence_factor
        self.last_seen: dict[int, float] = {}
        self.status: dict[int, str] = {}
        self._pending: dict[int, tuple[str, float]] = {}
        self._written_seen: dict[int, float] = {}

    def seen(self, key: int, now: float) -> None:
        """A message from device ``key``: it is online (hot path: two dict operations)."""
        self.last_seen[key] = now
        if self.status.get(key) is not ONLINE:
            self._set(key, ONLINE, now)

    def reported(self, entry: DeviceEntry, status: str, now: float) -> None:
        """The device (or its last will) published its status."""
        if status == ONLINE:
            self.last_seen[entry.device_key] = now
        if self.status.get(entry.device_key) != status:
            self._set(entry.device_key, status, now)

    def sweep(self, now: float) -> int:
        """Mark devices offline whose silence exceeds their allowance; returns how many."""
        by_key = {e.device_key: e for e in self._registry.entries()}
        marked = 0
        for key, last in self.last_seen.items():
            if self.status.get(key) != ONLINE:
                continue
            entry = by_key.get(key)
            if entry is None or entry.profile is None:
                continue
            if now - last > entry.profile.reporting_interval_s * self._factor:
                self._set(key, OFFLINE, now)
                marked += 1
        return marked

    def _set(self, key: int, status: str, now: float) -> None:
        self.status[key] = status
        self._pending[key] = (status, now)

    def take_changes(self) -> dict[int, tuple[str, float]]:
        """Status changes not yet written."""
        pending, self._pending = self._pending, {}
        return pending

    async def load(self, conn: Conn) -> None:
        """Start from the stored status; silence is counted from now for online devices."""
        now = time.time()
        for r in await conn.fetch("SELECT device_key, status FROM devices"):
            self.status[r["device_key"]] = r["status"]
            if r["status"] == ONLINE:
                self.last_seen[r["device_key"]] = now
                self._written_seen[r["device_key"]] = now  # not a sighting: not written

    async def run(self, pool: asyncpg.Pool, every: float = 5.0) -> None:
        """Sweep and write status changes periodically, forever."""
        async with pool.acquire() as conn:
            await self.load(conn)
        while True:
            await asyncio.sleep(every)
            self.sweep(time.time())
            changes = self.take_changes()
            self._metrics.devices_online.set(sum(1 for s in self.status.values() if s == ONLINE))
            seen = {k: v for k, v in self.last_seen.items() if self._written_seen.get(k) != v}
            if not changes and not seen:
                continue
            try:
                async with pool.acquire() as conn, conn.transaction():
                    if changes:
                        await conn.execute(
                            _WRITE,
                            list(changes),
                            [c[0] for c in changes.values()],
                            [datetime.fromtimestamp(c[1], UTC) for c in changes.values()],
                        )
                    if seen:
                        await conn.execute(_WRITE_SEEN, list(seen), list(seen.values()))
                self._written_seen.update(seen)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("could not write %d status changes (%s); will retry", len(changes), exc)
                for key, change in changes.items():
                    self._pending.setdefault(key, change)
