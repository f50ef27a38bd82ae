"""Open data: live updates as Server-Sent Events, for a device, a metric, a district or
any combination of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from ingest.devices import DEVICE_ID_PATTERN
from ingest.queries.open_data import device_key_of

from ..open_data.live import LiveFilter, LiveHub
from ..open_data.models import ErrorDetail
from ..open_data.params import bad
from ..open_data.state import NOT_FOUND, PUBLIC_RESPONSES, Ctx, OpenDataDep

router = APIRouter(prefix="/api/v1", tags=["open data"], responses=PUBLIC_RESPONSES)

_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless text/event-stream: `event: reading` with a JSON reading "
        "per committed reading, `event: dropped` with the number of readings this client "
        "missed because it read too slowly, and `: keep-alive` comments.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    503: {"model": ErrorDetail, "description": "Too many live clients"},
}


@router.get("/live", response_class=StreamingResponse, responses={**_EVENT_STREAM, **NOT_FOUND})
async def live(
    request: Request,
    ctx: Ctx,
    od: OpenDataDep,
    device: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN)] = None,
    metric: Annotated[str | None, Query(max_length=64)] = None,
    district: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamingResponse:
    """Readings as they are committed. Give at least one of ``device``, ``metric`` and
    ``district``; all given must match. There is no replay: after a reconnect, fetch
    ``/api/v1/latest`` to catch up."""
    if device is None and metric is None and district is None:
        raise bad("say what to follow: device, metric and/or district")
    device_key = None
    if device is not None:
        async with ctx.pool.acquire() as conn:
            found = await device_key_of(conn, device)
        if found is None:
            raise HTTPException(404, f"no device {device!r}")
        device_key = found[0]
    metric_id = None
    if metric is not None:
        if metric not in ctx.metrics.by_name:
            raise bad(f"unknown metric {metric!r}; see /api/v1/profiles")
        metric_id = ctx.metrics.by_name[metric]
    if od.hub.full:
        raise HTTPException(503, f"{od.hub.clients} live clients are connected; try later")
    return StreamingResponse(
        _events(od.hub, LiveFilter(device_key, metric_id, district)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(hub: LiveHub, flt: LiveFilter) -> AsyncIterator[bytes]:
    # Registered only once the response streams, so a request that never gets that far
    # leaves nothing behind.
    client = hub.add(flt)
    try:
        yield b"retry: 5000\n: connected\n\n"
        while True:
            yield await client.next(hub.heartbeat_s)
    finally:
        hub.remove(client)
