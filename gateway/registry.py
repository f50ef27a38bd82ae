"""The gateway's in-memory device registry.

Loaded once at start and kept current by PostgreSQL LISTEN/NOTIFY (a trigger on
``devices``), so identifying a device costs a dict lookup, never a database round trip.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from device_profiles import CompiledProfile, Profile, ProfileRegistry
from ingest.db import Conn, connect
from ingest.devices import DeviceRow, get_device, list_devices
from ingest.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

__all__ = ["DeviceEntry", "DeviceRegistry"]

CHANNEL = "citygate_devices"


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """What the hot path needs to know about a registered device."""

    device_key: int
    id: str
    enabled: bool
    profile_name: str
    profile: Profile | None  # None: the device names a profile this gateway does not have
    compiled: CompiledProfile | None
    dev_eui: str | None

    @property
    def default_format(self) -> str:
        """The payload format the profile declares for its native telemetry topic."""
        return self.profile.default_format if self.profile is not None else "json"


class DeviceRegistry:
    """Device id (and DevEUI) -> :class:`DeviceEntry`."""

    def __init__(self, profiles: ProfileRegistry) -> None:
        self._profiles = profiles
        self._by_id: dict[str, DeviceEntry] = {}
        self._by_eui: dict[str, DeviceEntry] = {}
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, device_id: str) -> DeviceEntry | None:
        """The device registered under ``device_id``."""
        return self._by_id.get(device_id)

    def by_dev_eui(self, dev_eui: str) -> DeviceEntry | None:
        """The device whose ``attributes.dev_eui`` (or id) is this DevEUI (lower case hex)."""
        return self._by_eui.get(dev_eui) or self._by_id.get(dev_eui)

    def entries(self) -> list[DeviceEntry]:
        """Every device."""
        return list(self._by_id.values())

    def put(self, row: DeviceRow) -> DeviceEntry:
        """Add or replace one device."""
        self.remove(row.id)
        profile = compiled = None
        if row.profile in self._profiles:
            profile = self._profiles.get(row.profile)
            compiled = self._profiles.compiled(row.profile)
        raw_eui = row.attributes.get("dev_eui")
        dev_eui = str(raw_eui).lower() if raw_eui else None
        entry = DeviceEntry(
            row.device_key, row.id, row.enabled, row.profile, profile, compiled, dev_eui
        )
        self._by_id[row.id] = entry
        if dev_eui:
            self._by_eui[dev_eui] = entry
        return entry

    def remove(self, device_id: str) -> None:
        """Forget one device."""
        old = self._by_id.pop(device_id, None)
        if old is not None and old.dev_eui:
            self._by_eui.pop(old.dev_eui, None)

    async def load(self, conn: Conn) -> None:
        """Replace the whole registry with what the database holds."""
        rows = await list_devices(conn)
        self._by_id.clear()
        self._by_eui.clear()
        for row in rows:
            self.put(row)
        log.info("device registry: %d devices", len(rows))

    async def refresh(self, conn: Conn, device_id: str) -> None:
        """Reload one device after a change."""
        row = await get_device(conn, device_id)
        if row is None:
            self.remove(device_id)
        else:
            self.put(row)
        self.changed.set()

    async def follow(self, database_url: str, reconnect_delay: float = 1.0) -> None:
        """Keep the registry current: LISTEN for changes, reload fully after a reconnect."""
        while True:
            try:
                conn = await connect(database_url)
            except DatabaseUnavailable as exc:
                log.warning("device registry: %s; retrying", exc)
                await asyncio.sleep(reconnect_delay)
                continue
            try:
                await self._follow_on(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("device registry: lost its database connection (%s)", exc)
            finally:
                await _close_quietly(conn)
            await asyncio.sleep(reconnect_delay)

    async def _follow_on(self, conn: asyncpg.Connection) -> None:
        # Unbounded on purpose: notifications are small, and a burst (a bulk import) is
        # drained at once and answered with one full reload.
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def on_notify(_c: object, _pid: int, _channel: str, payload: object) -> None:
            queue.put_nowait(str(payload))

        conn.add_termination_listener(lambda _c: queue.put_nowait(None))
        await conn.add_listener(CHANNEL, on_notify)
        await self.load(conn)  # after LISTEN, so no change falls between the two
        self.changed.set()
        while True:
            changed = [await queue.get()]
            while not queue.empty() and len(changed) <= 100:
                changed.append(queue.get_nowait())
            if None in changed or conn.is_closed():
                return
            if len(changed) > 100:
                while not queue.empty():
                    if queue.get_nowait() is None:
                        return
                await self.load(conn)
                self.changed.set()
                continue
            for device_id in dict.fromkeys(changed):
                assert device_id is not None
                await self.refresh(conn, device_id)


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 2.0)
    except Exception:
        conn.terminate()
