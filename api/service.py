"""The HTTP server with the app's background tasks, as one task of the service."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from .app import create_app
from .context import ApiContext

log = logging.getLogger(__name__)

__all__ = ["ApiService"]


class ApiService:
    """``await ApiService(ctx, host, port).run()`` serves until :meth:`stop`."""

    def __init__(self, ctx: ApiContext, host: str, port: int) -> None:
        self.ctx = ctx
        self.app = create_app(ctx)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=host, port=port, log_level="warning", lifespan="off",
                timeout_graceful_shutdown=5,
            )
        )  # fmt: skip

    @property
    def started(self) -> bool:
        """True once the server listens."""
        return bool(self.server.started)

    def stop(self) -> None:
        """Ask the server to finish (open streams are closed after a grace period)."""
        self.server.should_exit = True

    async def run(self) -> None:
        """Serve, with the app's background tasks in the same task group."""
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(fn(), name=name) for name, fn in self.ctx.background]
            await tg.create_task(self.server.serve(), name="http-server")
            for task in tasks:
                task.cancel()
