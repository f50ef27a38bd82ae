"""Auto-provisioning of unknown devices, only when a setting enables it.

A message from an unknown device is held (not acknowledged) while the device is created
with the default profile, then handled again, so its readings are stored rather than
quarantined. Held messages are bounded; past the bound they go to quarantine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable

import asyncpg

from ingest.devices import DEVICE_ID_PATTERN

from .pipeline import ProvisionRequest
from .registry import DeviceRegistry

log = logging.getLogger(__name__)

__all__ = ["Provisioner"]


class Provisioner:
    """Creates devices on first contact."""

    def __init__(self, profile: str, registry: DeviceRegistry, max_held: int = 10_000) -> None:
        self._profile = profile
        self._registry = registry
        self._max_held = max_held
        self._held: dict[str, list[ProvisionRequest]] = {}
        self._count = 0
        self._failed: set[str] = set()
        self._wake = asyncio.Event()

    def request(self, ref: str, message: ProvisionRequest) -> bool:
        """Hold ``message`` until ``ref`` is provisioned; False if it cannot be held."""
        if ref in self._failed or self._count >= self._max_held:
            return False
        self._held.setdefault(ref, []).append(message)
        self._count += 1
        self._wake.set()
        return True

    async def run(self, pool: asyncpg.Pool, replay: Callable[[ProvisionRequest], None]) -> None:
        """Provision held devices and replay their messages, forever."""
        valid = re.compile(DEVICE_ID_PATTERN)
        while True:
            await self._wake.wait()
            self._wake.clear()
            held, self._held, self._count = self._held, {}, 0
            async with pool.acquire() as conn:
                for ref, messages in held.items():
                    if valid.match(ref):
                        try:
                            await conn.execute(
                                "INSERT INTO devices (id, profile, name, attributes) "
                                "VALUES ($1, $2, $1, $3::jsonb) ON CONFLICT (id) DO NOTHING",
                                ref,
                                self._profile,
                                json.dumps({"provisioned": "auto"}),
                            )
                            await self._registry.refresh(conn, ref)
                            log.info("auto-provisioned device %s (%s)", ref, self._profile)
                        except asyncpg.PostgresError as exc:
                            log.warning("could not provision device %r: %s", ref, exc)
                    if self._registry.get(ref) is None:
                        self._failed.add(ref)
                    for message in messages:
                        replay(message)
