"""What every benchmark needs: a private broker, a scratch database with devices, and
CPU and memory accounting per process, all on loopback and cleaned up afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from ingest.db import create_database
from ingest.devices import DeviceRecord, upsert_devices
from ingest.migrations import upgrade

# Tests and benchmarks start brokers the same way, with the settings citygate needs.
from tests.support.broker import Broker, private_broker

__all__ = ["Broker", "CpuMeter", "bench_database", "private_broker", "rss_mb"]

ADMIN_URL = os.environ.get(
    "CITYGATE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.asynccontextmanager
async def bench_database(devices: list[str], profile: str = "air_quality") -> AsyncIterator[str]:
    """A migrated scratch database with ``devices`` registered; dropped afterwards."""
    name = f"citygate_bench_{uuid.uuid4().hex[:8]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    await create_database(url)
    try:
        await upgrade(url)
        conn = await asyncpg.connect(url)
        try:
            await upsert_devices(conn, [DeviceRecord(id=d, profile=profile) for d in devices])
        finally:
            await conn.close()
        yield url
    finally:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _cpu_by_pid() -> dict[int, tuple[str, int]]:
    found: dict[int, tuple[str, int]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        found[int(pid)] = (comm, int(fields[11]) + int(fields[12]))
    return found


@dataclass
class CpuMeter:
    """CPU time per command name (python, postgres, mosquitto) over an interval, from
    /proc: processes that started meanwhile count from zero, ones that ended are lost."""

    start: dict[int, tuple[str, int]]

    @classmethod
    def begin(cls) -> CpuMeter:
        """Start measuring."""
        return cls(_cpu_by_pid())

    def cores(
        self, seconds: float, names: tuple[str, ...] = ("python", "postgres", "mosquitto")
    ) -> dict[str, float]:
        """Average cores used by each named command since :meth:`begin`."""
        used = dict.fromkeys(names, 0)
        for pid, (comm, ticks) in _cpu_by_pid().items():
            if comm in used:
                before = self.start.get(pid)
                used[comm] += ticks - (before[1] if before and before[0] == comm else 0)
        tick = os.sysconf("SC_CLK_TCK")
        return {n: round(t / tick / seconds, 2) for n, t in used.items()}


def rss_mb() -> float:
    """This process's resident memory in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
