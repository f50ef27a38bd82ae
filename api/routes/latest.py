"""Open data: the latest values of every device in one call, and of one device.

Served from ``latest`` (kept by the batch writer in the readings' transaction), never by
scanning the hypertable, and shared between concurrent clients for up to a second."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ingest.queries.open_data import device_info, device_latest, latest_values

from ..open_data.http_cache import CachedBody, etag_of, send
from ..open_data.models import DeviceLatestPublic, LatestSet
from ..open_data.params import MEDIA_TYPES, bad, negotiate, parse_list, query_key
from ..open_data.present import (
    GEOJSON_COLLECTION_SCHEMA,
    dumps,
    feature,
    feature_collection,
    latest_dict,
)
from ..open_data.state import NOT_FOUND, PUBLIC_RESPONSES, Ctx, OpenDataDep, media
from .devices import BBoxQ, DeviceId, DistrictQ, ProfileQ, device_filter

router = APIRouter(prefix="/api/v1", tags=["open data"], responses=PUBLIC_RESPONSES)

_MAX_AGE = 5


@router.get(
    "/latest",
    response_model=LatestSet,
    responses=media(**{"application/geo+json": GEOJSON_COLLECTION_SCHEMA}),
)
async def latest(
    request: Request,
    ctx: Ctx,
    od: OpenDataDep,
    profile: ProfileQ = None,
    district: DistrictQ = None,
    bbox: BBoxQ = None,
    metric: Annotated[
        list[str] | None, Query(description="only these metrics; repeat or separate by commas")
    ] = None,
    format: Literal["json", "geojson"] | None = None,
) -> Response:
    """The newest reading of each metric of every matching device, by device id. Devices
    that never reported (or not one of the ``metric``s asked for) are left out."""
    fmt = negotiate(request, format, ("json", "geojson"))
    flt = device_filter(profile, district, bbox)
    names = parse_list(metric)
    wanted: set[int] | None = None
    if names:
        unknown = [n for n in names if n not in ctx.metrics.by_name]
        if unknown:
            raise bad(f"unknown metric(s) {', '.join(unknown)}; see /api/v1/profiles")
        wanted = {ctx.metrics.by_name[n] for n in names}

    async def produce() -> CachedBody:
        async with ctx.pool.acquire() as conn:
            rows = await latest_values(conn, flt, sorted(wanted) if wanted else None)
        items = [latest_dict(r, ctx.metrics.by_id, wanted) for r in rows]
        if fmt == "geojson":
            body = dumps(feature_collection([feature(i, i["id"]) for i in items]))
        else:
            body = dumps({"count": len(items), "devices": items})
        return CachedBody(body, MEDIA_TYPES[fmt], etag_of(body))

    got = await od.cache.get(query_key(request, fmt), produce)
    return send(request, got.body, got.media_type, _MAX_AGE, etag=got.etag, vary="Accept")


@router.get("/devices/{device_id}/latest", response_model=DeviceLatestPublic, responses=NOT_FOUND)
async def latest_of_device(request: Request, ctx: Ctx, device_id: DeviceId) -> Response:
    """The newest reading of each metric of one device (``time`` null and no readings if
    it never reported)."""
    async with ctx.pool.acquire() as conn:
        row = await device_latest(conn, device_id)
        info = await device_info(conn, device_id) if row is None else None
    if row is not None:
        return send(request, dumps(latest_dict(row, ctx.metrics.by_id)), "application/json",
                    _MAX_AGE)  # fmt: skip
    if info is None:
        raise HTTPException(404, f"no device {device_id!r}")
    empty: dict[str, Any] = {
        "id": info.id, "profile": info.profile, "district": info.district, "lon": info.lon,
        "lat": info.lat, "time": None, "readings": {},
    }  # fmt: skip
    return send(request, dumps(empty), "application/json", _MAX_AGE)
