"""Open data: one metric over an area (district or bounding box), bucketed: the average,
minimum and maximum of every reading of the area's devices in each bucket, how many
readings and how many devices reported."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ingest.queries.buckets import from_us
from ingest.queries.history import bucket_points_json, bucket_rows
from ingest.queries.open_data import DeviceFilter, area_devices

from ..context import ApiContext
from ..open_data.csv_stream import CSV_MEDIA_TYPE
from ..open_data.http_cache import caching_headers, etag_of_version, not_modified, send
from ..open_data.models import AreaHistory
from ..open_data.params import bad, negotiate, parse_bbox, parse_list
from ..open_data.present import dumps
from ..open_data.series import (
    AREA_AGGREGATES,
    choose_aggregates,
    csv_points,
    plan_series,
    plan_version,
)
from ..open_data.state import PUBLIC_RESPONSES, Ctx, media
from .devices import BBoxQ, DistrictQ, ProfileQ
from .history import From, To

router = APIRouter(prefix="/api/v1/area", tags=["open data"], responses=PUBLIC_RESPONSES)

_MAX_AGE = 30


def numeric_profiles(ctx: ApiContext, metric: str, wanted: list[str] | None) -> list[str]:
    """Profiles (of ``wanted``, if given) in which ``metric`` is a number; 422 if none."""
    if metric not in ctx.metrics.by_name:
        raise bad(f"unknown metric {metric!r}; see /api/v1/profiles")
    having = [p for p in ctx.profiles if metric in p.metrics]
    if wanted is not None:
        having = [p for p in having if p.name in wanted]
    numeric = [p.name for p in having if p.metrics[metric].states is None]
    if not numeric:
        if having:
            states = having[0].metrics[metric].states or ()
            raise bad(
                f"metric {metric!r} is categorical (states: {', '.join(states)}): area "
                "aggregates need a numeric metric; use /api/v1/latest for current states"
            )
        raise bad(f"no profile{' of those asked for' if wanted else ''} reports {metric!r}")
    return numeric


@router.get(
    "/history", response_model=AreaHistory, responses=media(**{"text/csv": {"type": "string"}})
)
async def area_history(
    request: Request,
    ctx: Ctx,
    metric: Annotated[str, Query(max_length=64, description="metric name, e.g. pm25")],
    district: DistrictQ = None,
    bbox: BBoxQ = None,
    profile: ProfileQ = None,
    start: From = None,
    end: To = None,
    bucket: Annotated[str, Query(max_length=16, description="auto, or 1m, 15m, 1h, 1d ...")] = (
        "auto"
    ),
    agg: Annotated[
        str | None,
        Query(max_length=100, description="comma-separated: count, devices, avg, min, max"),
    ] = None,
    format: Literal["json", "csv"] | None = None,
) -> Response:
    """A numeric metric over the devices of a district and/or bounding box (one is
    needed), bucketed. ``avg`` is the mean of every reading in the bucket."""
    fmt = negotiate(request, format, ("json", "csv"))
    districts = parse_list(district)
    box = parse_bbox(bbox)
    if districts is None and box is None:
        raise bad("an area needs a district or a bbox (or both)")
    profiles = numeric_profiles(ctx, metric, parse_list(profile))
    aggregates = choose_aggregates(agg, AREA_AGGREGATES, None, f"metric {metric!r}")
    async with ctx.pool.acquire() as conn:
        area = await area_devices(conn, DeviceFilter(profiles, districts, box))
    plan = plan_series(ctx.config, start, end, bucket, area.rolled_until)
    etag = etag_of_version("area", metric, area.version, plan_version(plan), aggregates, fmt)
    headers = caching_headers(etag, _MAX_AGE, "Accept")
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    mid = ctx.metrics.by_name[metric]
    if fmt == "csv":
        buckets = []
        if area.keys:
            async with ctx.pool.acquire() as conn:
                buckets = await bucket_rows(
                    conn, area.keys, mid, plan, devices="devices" in aggregates
                )
        return StreamingResponse(
            csv_points(buckets, aggregates, None),
            media_type=CSV_MEDIA_TYPE,
            headers={**headers, "Content-Disposition":
                     f'attachment; filename="area_{metric}_{plan.width}.csv"'},
        )  # fmt: skip
    unit = next((p.metrics[metric].unit for p in ctx.profiles if p.name in area.profiles), None)
    body: dict[str, Any] = {
        "metric": metric, "unit": unit, "district": districts,
        "bbox": list(box) if box is not None else None, "profiles": list(area.profiles),
        "device_count": len(area.keys), "from": from_us(plan.start_us),
        "to": from_us(plan.end_us), "bucket": plan.width,
        "bucket_seconds": plan.width_us // 1_000_000, "aggregates": list(aggregates),
        "rollup": plan.rollup,
    }  # fmt: skip
    points = "[]"
    if area.keys:
        async with ctx.pool.acquire() as conn:
            points = await bucket_points_json(conn, area.keys, mid, plan, aggregates)
    body["points"] = orjson.Fragment(points)
    return send(request, dumps(body), "application/json", _MAX_AGE, etag=etag, vary="Accept")
