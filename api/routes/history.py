"""Open data: the history of one metric of one device, as time-bucketed aggregates (from
the rollups where they are final, raw readings elsewhere) or as raw readings; JSON or
streamed CSV. Limits are checked before any query runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from device_profiles import MetricSpec
from ingest.queries.buckets import BucketPlan, from_us, to_us
from ingest.queries.history import (
    DeviceContext,
    bucket_points_json,
    bucket_rows,
    device_context,
    iter_raw_readings,
    next_reading_time,
    raw_readings,
)

from ..context import ApiContext
from ..open_data.csv_stream import CSV_MEDIA_TYPE, csv_chunks
from ..open_data.http_cache import caching_headers, etag_of_version, not_modified, send
from ..open_data.models import History, Readings
from ..open_data.params import check_page_size, negotiate, page_link, time_range
from ..open_data.present import dumps
from ..open_data.series import (
    DEVICE_AGGREGATES,
    choose_aggregates,
    csv_points,
    plan_series,
    plan_version,
)
from ..open_data.state import NOT_FOUND, PUBLIC_RESPONSES, Ctx, OpenData, OpenDataDep, media
from .devices import DeviceId

router = APIRouter(prefix="/api/v1/devices", tags=["open data"], responses=PUBLIC_RESPONSES)

_MAX_AGE = 30
# Answers of final rollups change only when backfill is recomputed: clients and proxies
# may reuse them for five minutes.
_FINAL_MAX_AGE = 300
_CSV = media(**{"text/csv": {"type": "string"}})
MetricName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
From = Annotated[
    datetime | None,
    Query(alias="from", description="start (inclusive), ISO 8601; default: a day before 'to'"),
]
To = Annotated[
    datetime | None,
    Query(alias="to", description="end (exclusive), ISO 8601; default: now (end of its bucket)"),
]


def metric_of(ctx: ApiContext, dc: DeviceContext, device_id: str, metric: str) -> MetricSpec:
    """The device's profile's spec of ``metric`` (404 if the device has no such metric)."""
    profile = ctx.profiles.get(dc.profile) if dc.profile in ctx.profiles else None
    if profile is None or metric not in profile.metrics or metric not in ctx.metrics.by_name:
        known = ", ".join(profile.metrics) if profile is not None else "none known"
        raise HTTPException(
            404, f"device {device_id!r} (profile {dc.profile}) has no metric {metric!r}; "
            f"its metrics: {known}",
        )  # fmt: skip
    return profile.metrics[metric]


async def _context(ctx: ApiContext, device_id: str) -> DeviceContext:
    async with ctx.pool.acquire() as conn:
        dc = await device_context(conn, device_id)
    if dc is None:
        raise HTTPException(404, f"no device {device_id!r}")
    return dc


@dataclass(frozen=True, slots=True)
class _Answer:
    """What a history answer is a function of, and its ETag."""

    dc: DeviceContext
    device_id: str
    metric: str
    spec: MetricSpec
    aggregates: tuple[str, ...]
    plan: BucketPlan
    fmt: str

    @property
    def max_age(self) -> int:
        return _FINAL_MAX_AGE if self.plan.final else _MAX_AGE

    @property
    def keep(self) -> bool:
        """Kept once rendered: final, and JSON (CSV is streamed)."""
        return self.plan.final and self.fmt == "json"

    @property
    def etag(self) -> str:
        # An answer of final rollups alone changes only with the rollup generation: its
        # ETag survives the device's new readings, and its JSON is kept (final_cache.py).
        dc = self.dc
        version = ("final", dc.rollup_generation) if self.plan.final else ("live", dc.received_at)
        return etag_of_version(
            "history", dc.device_key, self.device_id, dc.profile, self.metric, *version,
            plan_version(self.plan), self.aggregates, self.fmt,
        )  # fmt: skip

    def from_cache(self, request: Request, od: OpenData) -> Response | None:
        """304 when the client holds this version; the kept body when there is one."""
        etag = self.etag
        if not_modified(request, etag):
            return Response(status_code=304, headers=caching_headers(etag, self.max_age, "Accept"))
        if self.keep and (kept := od.final.get(etag)) is not None:
            return send(request, kept, "application/json", self.max_age, etag=etag, vary="Accept")
        return None


@router.get(
    "/{device_id}/metrics/{metric}/history",
    response_model=History,
    responses={**NOT_FOUND, **_CSV},
)
async def history(
    request: Request,
    ctx: Ctx,
    od: OpenDataDep,
    device_id: DeviceId,
    metric: MetricName,
    start: From = None,
    end: To = None,
    bucket: Annotated[
        str, Query(max_length=16, description="auto, or a width: 30s, 1m, 15m, 1h, 1d ...")
    ] = "auto",
    agg: Annotated[
        str | None,
        Query(max_length=100, description="comma-separated: count, avg, min, max, last"),
    ] = None,
    format: Literal["json", "csv"] | None = None,
) -> Response:
    """Time-bucketed aggregates of one metric of one device. A categorical metric offers
    ``count`` and ``last`` (the state's name). At most ``max_history_points`` buckets and
    ``max_range_days`` per request."""
    fmt = negotiate(request, format, ("json", "csv"))

    def prepare(dc: DeviceContext) -> _Answer:
        spec = metric_of(ctx, dc, device_id, metric)
        aggregates = choose_aggregates(
            agg, DEVICE_AGGREGATES, spec, f"metric {metric!r} of profile {dc.profile}"
        )
        plan = plan_series(ctx.config, start, end, bucket, dc.rolled_until)
        return _Answer(dc, device_id, metric, spec, aggregates, plan, fmt)

    # What was recently found of the device and of the rollups is enough to answer from
    # a kept final answer with no round trip; anything else is answered from a fresh
    # look, on one connection for both queries (each await costs a turn of a busy loop).
    recent, renew = od.recent_context(device_id)
    if recent is not None:
        answer = prepare(recent)
        if answer.plan.final and not renew:
            done = answer.from_cache(request, od)
            if done is not None:
                return done
    async with ctx.pool.acquire() as conn:
        if recent is None or renew or not answer.plan.final:
            try:
                dc = await device_context(conn, device_id)
            except BaseException:
                od.lookup_failed(device_id)
                raise
            if dc is None:
                od.lookup_failed(device_id, exists=False)
                raise HTTPException(404, f"no device {device_id!r}")
            od.found(device_id, dc)
            answer = prepare(dc)
            if (done := answer.from_cache(request, od)) is not None:
                return done
        dc, plan, spec = answer.dc, answer.plan, answer.spec
        mid = ctx.metrics.by_name[metric]
        states = spec.states
        if fmt == "csv":
            buckets = await bucket_rows(conn, [dc.device_key], mid, plan, devices=False)
        else:
            points = await bucket_points_json(
                conn, [dc.device_key], mid, plan, answer.aggregates, states
            )
    etag, max_age = answer.etag, answer.max_age
    if fmt == "csv":
        filename = f"{device_id}_{metric}_{plan.width}.csv"
        return StreamingResponse(
            csv_points(buckets, answer.aggregates, states),
            media_type=CSV_MEDIA_TYPE,
            headers={**caching_headers(etag, max_age, "Accept"),
                     "Content-Disposition": f'attachment; filename="{filename}"'},
        )  # fmt: skip
    body: dict[str, Any] = {
        "device": device_id, "metric": metric, "type": spec.type, "unit": spec.unit,
        "states": list(states) if states is not None else None,
        "from": from_us(plan.start_us), "to": from_us(plan.end_us), "bucket": plan.width,
        "bucket_seconds": plan.width_us // 1_000_000, "aggregates": list(answer.aggregates),
        "rollup": plan.rollup,
    }  # fmt: skip
    body["points"] = orjson.Fragment(points)
    rendered = dumps(body)
    if answer.keep:
        od.final.put(etag, rendered)
    return send(request, rendered, "application/json", max_age, etag=etag, vary="Accept")


@router.get(
    "/{device_id}/metrics/{metric}/readings",
    response_model=Readings,
    responses={**NOT_FOUND, **_CSV},
)
async def readings(
    request: Request,
    ctx: Ctx,
    device_id: DeviceId,
    metric: MetricName,
    start: From = None,
    end: To = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=1_000_000_000, description="most readings (default: max page size)"),
    ] = None,
    format: Literal["json", "csv"] | None = None,
) -> Response:
    """Raw readings of one metric of one device, oldest first, at most ``limit`` (up to
    ``max_history_points``); ``next`` (and a ``Link: rel="next"`` header) continues."""
    fmt = negotiate(request, format, ("json", "csv"))
    size = check_page_size(
        limit or ctx.config.max_page_size, ctx.config.max_history_points, "limit"
    )
    dc = await _context(ctx, device_id)
    spec = metric_of(ctx, dc, device_id, metric)
    start_us, end_us = time_range(start, end, max_days=ctx.config.max_range_days)
    t0, t1 = from_us(start_us), from_us(end_us)
    etag = etag_of_version("readings", dc.device_key, metric, dc.received_at, start_us,
                           end_us, size, fmt)  # fmt: skip
    headers = caching_headers(etag, _MAX_AGE, "Accept")
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    mid = ctx.metrics.by_name[metric]
    async with ctx.pool.acquire() as conn:
        if fmt == "json":
            rows = await raw_readings(conn, dc.device_key, mid, t0, t1, size + 1)
            following = rows[size]["time"] if len(rows) > size else None
            del rows[size:]
        else:  # streamed below; only find where the next page starts
            following = await next_reading_time(conn, dc.device_key, mid, t0, t1, size)
    next_url = None
    if following is not None:
        next_url = page_link(request, ctx.config.public_url, **{"from": _iso(following)})
        headers["Link"] = f'<{next_url}>; rel="next"'
    if fmt == "csv":
        return StreamingResponse(
            _stream_readings(ctx, dc.device_key, mid, t0, t1, size),
            media_type=CSV_MEDIA_TYPE,
            headers={**headers, "Content-Disposition":
                     f'attachment; filename="{device_id}_{metric}_readings.csv"'},
        )  # fmt: skip
    body = {
        "device": device_id, "metric": metric, "unit": spec.unit, "from": t0, "to": t1,
        "limit": size,
        "readings": [_reading(r["time"], r["value"], r["state"]) for r in rows],
        "next": next_url,
    }  # fmt: skip
    return send(request, dumps(body), "application/json", _MAX_AGE, etag=etag, headers=headers)


def _reading(t: datetime, value: float, state: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"time": t, "value": value}
    if state is not None:
        out["state"] = state
    return out


def _iso(t: datetime) -> str:
    return from_us(to_us(t)).isoformat().replace("+00:00", "Z")


async def _stream_readings(
    ctx: ApiContext, device_key: int, metric_id: int, t0: datetime, t1: datetime, limit: int
) -> AsyncIterator[bytes]:
    async def rows() -> AsyncIterator[Sequence[object]]:
        async with ctx.pool.acquire() as conn, conn.transaction(readonly=True):
            async for r in iter_raw_readings(conn, device_key, metric_id, t0, t1, limit):
                yield (r["time"], r["value"], r["state"])

    async for chunk in csv_chunks(("time", "value", "state"), rows()):
        yield chunk
