"""Per-app state of the open data endpoints (response cache, live-update hub) and the
OpenAPI response descriptions they share."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from ingest.queries.history import DeviceContext

from ..context import ApiContext
from .final_cache import FinalAnswers, RecentValues
from .http_cache import ResponseCache
from .live import LiveHub
from .models import ErrorDetail

__all__ = ["NOT_FOUND", "PUBLIC_RESPONSES", "OpenData", "OpenDataDep", "media"]

# How long the server may reuse a representation of fast-changing data (latest values,
# device lists): a second, well inside the max-age the responses announce.
SHARED_TTL_S = 1.0
# How long a device's identity (key, profile) found by a history request is reused;
# changes through the operator API are seen at once.
DEVICE_TTL_S = 10.0


@dataclass(frozen=True, slots=True)
class RollupMark:
    """Up to when the rollups are final, and their generation (``ingest.queries.history``)."""

    rolled_until: datetime | None
    generation: int


_ROLLUPS = "readings"


@dataclass(slots=True)
class OpenData:
    """What the open data routes share within one app."""

    cache: ResponseCache
    hub: LiveHub
    final: FinalAnswers  # history answers of final rollups (final_cache.py)
    # What history requests found of devices (for DEVICE_TTL_S) and of the rollups' mark
    # (for a second): enough to answer from a kept final answer with no round trip.
    devices: RecentValues[str, DeviceContext] = field(
        default_factory=lambda: RecentValues(DEVICE_TTL_S)
    )
    rollups: RecentValues[str, RollupMark] = field(
        default_factory=lambda: RecentValues(SHARED_TTL_S)
    )

    def devices_changed(self) -> None:
        """Forget what was shared about devices (after a change through the API)."""
        self.cache.clear()
        self.devices.clear()

    def recent_context(self, device_id: str) -> tuple[DeviceContext | None, bool]:
        """The device as recently found, with the rollups' mark of the last second; and
        whether this caller should look both up again (one caller at a time renews them
        ahead of expiry, the others keep using them)."""
        dc, renew_device = self.devices.get(device_id)
        if dc is None:
            return None, False
        mark, renew_mark = self.rollups.get(_ROLLUPS)
        if mark is None:
            return None, False  # the caller looks up, and ``found`` resets both
        return (
            replace(dc, rolled_until=mark.rolled_until, rollup_generation=mark.generation),
            renew_device or renew_mark,
        )

    def found(self, device_id: str, dc: DeviceContext) -> None:
        """Remember a fresh lookup of a device (and the rollups' mark it carries)."""
        self.devices.put(device_id, dc)
        self.rollups.put(_ROLLUPS, RollupMark(dc.rolled_until, dc.rollup_generation))

    def lookup_failed(self, device_id: str, exists: bool = True) -> None:
        """A lookup did not complete (or found no device): let another request try."""
        if exists:
            self.devices.renewal_failed(device_id)
        else:
            self.devices.discard(device_id)
        self.rollups.renewal_failed(_ROLLUPS)

    @classmethod
    def for_context(cls, ctx: ApiContext) -> OpenData:
        """Built once by ``create_app``; the hub's task goes to ``ctx.background``."""
        hub = LiveHub(ctx.feed, ctx.pool, ctx.metrics, ctx.prometheus)
        ctx.background.append(("live-updates", hub.run))
        final = FinalAnswers(ctx.config.history_cache_bytes, ctx.prometheus)
        return cls(ResponseCache(SHARED_TTL_S), hub, final)


# Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a thread
# hop per request that costs more than the lookup itself on the hot endpoints.
async def _open_data(request: Request) -> OpenData:
    state: OpenData = request.app.state.open_data
    return state


async def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


OpenDataDep = Annotated[OpenData, Depends(_open_data)]
Ctx = Annotated[ApiContext, Depends(_context)]

PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match holds the current ETag"},
    422: {"model": ErrorDetail, "description": "A parameter is invalid or over a limit"},
    429: {
        "model": ErrorDetail,
        "description": "Too many requests from this client without an API key; see Retry-After",
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "No such device, metric or profile"}
}


def media(**types: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """Extra media types of a 200 response: ``media(**{"text/csv": schema})``."""
    return {200: {"content": {k: {"schema": v} for k, v in types.items()}}}
