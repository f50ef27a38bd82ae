"""Parsing and checking of open data query parameters, with 422 messages that say what is
wrong and which limit applies (checked before any query runs)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import HTTPException, Request

from ingest.queries.buckets import DAY_US, to_us
from ingest.queries.open_data import BBox

__all__ = [
    "MAX_TIME_US",
    "MIN_TIME_US",
    "check_page_size",
    "negotiate",
    "page_link",
    "parse_bbox",
    "parse_list",
    "query_key",
    "time_range",
]

MIN_TIME_US = to_us(datetime(1970, 1, 1, tzinfo=UTC))
MAX_TIME_US = to_us(datetime(2200, 1, 1, tzinfo=UTC))

MEDIA_TYPES = {
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv",
}
_BY_MEDIA = {v: k for k, v in MEDIA_TYPES.items()}


def bad(message: str) -> HTTPException:
    """A 422 with a readable message."""
    return HTTPException(422, message)


def parse_bbox(text: str | None) -> BBox | None:
    """``minLon,minLat,maxLon,maxLat`` in WGS 84 degrees (RFC 7946 order)."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise bad("bbox must be four numbers: minLon,minLat,maxLon,maxLat (WGS 84 degrees)")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise bad(f"bbox {text!r} holds something that is not a number") from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise bad("bbox values must be finite numbers")
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise bad("bbox longitudes must lie in [-180, 180]")
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise bad("bbox latitudes must lie in [-90, 90]")
    if min_lat > max_lat:
        raise bad("bbox minLat must not be above maxLat")
    return (min_lon, min_lat, max_lon, max_lat)


def parse_list(values: list[str] | None) -> list[str] | None:
    """Repeated or comma-separated values (``?profile=a&profile=b`` or ``?profile=a,b``)."""
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def check_page_size(limit: int, maximum: int, what: str = "limit") -> int:
    """Refuse a page larger than the configured maximum, naming it."""
    if limit > maximum:
        raise bad(f"{what} {limit} is over the maximum of {maximum} per request; page instead")
    return limit


def time_range(
    start: datetime | None,
    end: datetime | None,
    *,
    max_days: int,
    default_span: timedelta = timedelta(days=1),
    now_us: int | None = None,
    align_end_us: int | None = None,
) -> tuple[int, int]:
    """[from, to) as epoch microseconds, checked against ``max_days``. A missing ``to`` is
    now, rounded up to ``align_end_us`` (so repeated requests share a cache key); a
    missing ``from`` is ``default_span`` before ``to``. Naive times are UTC."""
    if end is None:
        end_us = now_us if now_us is not None else to_us(datetime.now(UTC))
        if align_end_us:
            end_us += -end_us % align_end_us
    else:
        end_us = to_us(end)
    start_us = to_us(start) if start is not None else end_us - _us(default_span)
    for name, value in (("from", start_us), ("to", end_us)):
        if not MIN_TIME_US <= value <= MAX_TIME_US:
            raise bad(f"'{name}' must lie between 1970-01-01 and 2200-01-01")
    if start_us >= end_us:
        raise bad("'from' must be before 'to'")
    span = end_us - start_us
    if span > max_days * DAY_US:
        raise bad(
            f"the range is {span / DAY_US:.1f} days; one request may cover at most "
            f"{max_days} days (max_range_days)"
        )
    return start_us, end_us


def _us(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def negotiate(request: Request, fmt: str | None, offered: tuple[str, ...]) -> str:
    """The representation to send: ``format`` if given, else the first acceptable media
    type of the Accept header that is offered, else the first offered."""
    if fmt is not None:
        if fmt not in offered:
            raise bad(f"format {fmt!r} is not offered here; use one of {', '.join(offered)}")
        return fmt
    accept = request.headers.get("accept", "")
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        name = _BY_MEDIA.get(media.lower())
        if name in offered and q > 0:
            ranked.append((-q, i, name))
    return min(ranked)[2] if ranked else offered[0]


def page_link(request: Request, public_url: str, **changes: object) -> str:
    """The request's URL on the public base with some query parameters replaced."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, str(v)) for k, v in changes.items() if v is not None]
    query = urlencode(params)
    return f"{public_url.rstrip('/')}{request.url.path}" + (f"?{query}" if query else "")


def query_key(request: Request, *extra: object) -> tuple[object, ...]:
    """A cache key for a request: path, sorted query and anything else that matters."""
    return (request.url.path, tuple(sorted(request.query_params.multi_items())), *extra)
