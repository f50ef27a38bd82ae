"""A real HTTP receiver on loopback for webhook tests: records every request and answers
with a status, headers and delay the test sets (asyncio streams, HTTP/1.1, one request
per connection)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.broker import free_port


@dataclass
class Received:
    """One request the receiver read."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: bool = False  # the whole response reached a client still waiting for it


@dataclass
class Receiver:
    """``async with Receiver() as r: ... r.url("/hook")``; ``port`` may be chosen before
    the receiver is started (to test a receiver that is down, then up)."""

    port: int = field(default_factory=free_port)
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str = "/hook") -> str:
        """The receiver's URL for ``path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def answered(self) -> list[Received]:
        """Requests whose response was delivered."""
        return [r for r in self.requests if r.answered]

    async def start(self) -> None:
        """Listen on 127.0.0.1:port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening and drop connections in progress."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_answered(self, n: int, timeout: float = 30.0) -> list[Received]:
        """Wait until ``n`` requests were answered (returns what there is on timeout)."""
        await self._wait(lambda: len(self.answered) >= n, timeout)
        return self.answered

    async def wait_requests(self, n: int, timeout: float = 30.0) -> list[Received]:
        """Wait until ``n`` requests arrived, answered or not."""
        await self._wait(lambda: len(self.requests) >= n, timeout)
        return self.requests

    async def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not done():
                    self.changed.clear()
                    await self.changed.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            received = Received(method, path, headers, body)
            self.requests.append(received)
            self.changed.set()
            if self.delay:
                # Wait, noticing a client that gives up meanwhile (EOF).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.delay):
                        if await reader.read(1) == b"":
                            return
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
            writer.write(
                f"HTTP/1.1 {self.status} Whatever\r\nContent-Length: 2\r\n"
                f"Connection: close\r\n{extra}\r\nok".encode()
            )
            await writer.drain()
            received.answered = True
            self.changed.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._tasks.discard(task)
