"""A small HTTP/1.1 load generator on asyncio streams: N clients, each on its own
keep-alive connection, each sending its next GET as soon as the previous answer is read
(closed loop), or after a think time. Lean on purpose (no HTTP library per request), so
that on a small machine the clients take as little CPU as possible from the server they
measure."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LoadResult", "run_load"]


@dataclass
class LoadResult:
    """Latencies (seconds) of the measured requests, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def mean_bytes(self) -> float:
        """Mean body size."""
        return self.bytes / len(self.latencies) if self.latencies else 0.0


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, int]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            body += size
            if size == 0:
                return status, body
    await reader.readexactly(length)
    return status, length


async def run_load(
    port: int,
    next_path: Callable[[], str],
    *,
    clients: int,
    seconds: float,
    warmup: float,
    think: float = 0.0,
) -> LoadResult:
    """Run ``clients`` clients for ``warmup + seconds``; measure the last ``seconds``.
    With ``think`` > 0 each client pauses a random 0.5-1.5 times ``think`` seconds after
    each answer (a user or dashboard, not a flood). Stops by itself."""
    result = LoadResult()
    rng = random.Random(1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    measure_from = started + warmup
    stop_at = measure_from + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (now := loop.time()) < stop_at:
                path = next_path()
                t0 = time.perf_counter()
                try:
                    status, size = await _get(reader, writer, path)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                elapsed = time.perf_counter() - t0
                if think:
                    await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                if now < measure_from:
                    continue
                if status != 200:
                    result.errors += 1
                else:
                    result.latencies.append(elapsed)
                    result.bytes += size
        finally:
            writer.close()

    async with asyncio.TaskGroup() as tg:
        for i in range(clients):
            tg.create_task(client(), name=f"load-client-{i}")
    result.seconds = seconds
    return result
