"""Open data: devices with location, profile, district and status, as JSON or as a
GeoJSON FeatureCollection (RFC 7946), filtered by profile, district, status and bounding
box, paged."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from ingest.devices import DEVICE_ID_PATTERN
from ingest.queries.open_data import DeviceFilter, count_devices, device_info, list_devices_page

from ..open_data.http_cache import CachedBody, etag_of, send
from ..open_data.models import DevicePage, DevicePublic
from ..open_data.params import (
    MEDIA_TYPES,
    check_page_size,
    negotiate,
    page_link,
    parse_bbox,
    parse_list,
    query_key,
)
from ..open_data.present import (
    GEOJSON_COLLECTION_SCHEMA,
    GEOJSON_FEATURE_SCHEMA,
    device_dict,
    dumps,
    feature,
    feature_collection,
)
from ..open_data.state import NOT_FOUND, PUBLIC_RESPONSES, Ctx, OpenDataDep, media

router = APIRouter(prefix="/api/v1/devices", tags=["open data"], responses=PUBLIC_RESPONSES)

_MAX_AGE = 30
_GEO = "application/geo+json"

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="device id")]
ProfileQ = Annotated[
    list[str] | None, Query(description="profile name(s); repeat or separate by commas")
]
DistrictQ = Annotated[
    list[str] | None, Query(description="district name(s); repeat or separate by commas")
]
BBoxQ = Annotated[
    str | None,
    Query(
        max_length=200,
        description="minLon,minLat,maxLon,maxLat in WGS 84 degrees (minLon > maxLon crosses "
        "the antimeridian)",
        examples=["16.30,48.17,16.42,48.24"],
    ),
]


def device_filter(
    profile: list[str] | None, district: list[str] | None, bbox: str | None,
    status: str | None = None,
) -> DeviceFilter:  # fmt: skip
    """The filter the query parameters describe (422 on a bad bbox)."""
    return DeviceFilter(parse_list(profile), parse_list(district), parse_bbox(bbox), status)


@router.get("", response_model=DevicePage, responses=media(**{_GEO: GEOJSON_COLLECTION_SCHEMA}))
async def devices(
    request: Request,
    ctx: Ctx,
    od: OpenDataDep,
    profile: ProfileQ = None,
    district: DistrictQ = None,
    bbox: BBoxQ = None,
    status: Literal["online", "offline", "unknown"] | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000_000, description="page size")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    format: Literal["json", "geojson"] | None = None,
) -> Response:
    """Registered devices ordered by id, a page at a time (``limit`` up to the configured
    maximum page size). GeoJSON with ``format=geojson`` or ``Accept: application/geo+json``.
    """
    fmt = negotiate(request, format, ("json", "geojson"))
    flt = device_filter(profile, district, bbox, status)
    size = check_page_size(limit or ctx.config.default_page_size, ctx.config.max_page_size)

    async def produce() -> CachedBody:
        async with ctx.pool.acquire() as conn:
            total = await count_devices(conn, flt)
            rows = await list_devices_page(conn, flt, size, offset)
        following = offset + size if offset + size < total else None
        next_url = None if following is None else page_link(
            request, ctx.config.public_url, offset=following, limit=size
        )  # fmt: skip
        items = [device_dict(d) for d in rows]
        if fmt == "geojson":
            body = dumps(feature_collection([feature(i, i["id"]) for i in items], total, next_url))
        else:
            body = dumps(
                {"items": items, "total": total, "limit": size, "offset": offset,
                 "next": next_url}
            )  # fmt: skip
        return CachedBody(body, MEDIA_TYPES[fmt], etag_of(body))

    got = await od.cache.get(query_key(request, fmt), produce)
    return send(request, got.body, got.media_type, _MAX_AGE, etag=got.etag, vary="Accept")


@router.get(
    "/{device_id}",
    response_model=DevicePublic,
    responses={**NOT_FOUND, **media(**{_GEO: GEOJSON_FEATURE_SCHEMA})},
)
async def device(
    request: Request,
    ctx: Ctx,
    device_id: DeviceId,
    format: Literal["json", "geojson"] | None = None,
) -> Response:
    """One device (a GeoJSON Feature with ``format=geojson``)."""
    fmt = negotiate(request, format, ("json", "geojson"))
    async with ctx.pool.acquire() as conn:
        d = await device_info(conn, device_id)
    if d is None:
        raise HTTPException(404, f"no device {device_id!r}")
    data = device_dict(d)
    body = dumps(feature(data, d.id) if fmt == "geojson" else data)
    return send(request, body, MEDIA_TYPES[fmt], _MAX_AGE, vary="Accept")
