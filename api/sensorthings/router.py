"""The ``/v1.1`` routes: the root document, reads of every resource path, and the writes
operators may make (``writes.py``)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from ..context import ApiContext
from ..deps import ConnDep, Operator
from ..open_data.state import OpenData
from .catalogue import CatalogueCache
from .errors import StaError, errors, format_error
from .model import SETS
from .mqtt import StaMqttPublisher
from .options import Limits
from .read import ReadContext, read
from .sqlparams import READ_TIMEOUT_S
from .writes import Writes

log = logging.getLogger(__name__)

__all__ = ["PREFIX", "build_router", "conformance", "json_response", "sta_errors"]

PREFIX = "/v1.1"
_SPEC = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
MQTT_CLASS = _SPEC + "receive-updates-via-mqtt/receive-updates"


class EntitySetLink(BaseModel):
    """An entity set of the service root."""

    name: str
    url: str


class ServiceRoot(BaseModel):
    """The service root: entity sets, and server settings (conformance classes, and the
    MQTT endpoints when the MQTT extension is on)."""

    value: list[EntitySetLink]
    serverSettings: dict[str, Any]


_ANY_JSON: dict[str, Any] = {"type": ["object", "array"]}
_READ = {
    200: {
        "description": "An entity, a collection (value, @iot.count, @iot.nextLink), a "
        "property, a reference, or a $value as text",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    **errors(400, 404),
}


_QUERY_OPTIONS: list[dict[str, Any]] = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
     "description": text}
    for name, text in (
        ("$filter", "a predicate on the entities' properties (SensorThings 1.1, 9.3.3.5)"),
        ("$expand", "related entities to include, with nested options in parentheses"),
        ("$select", "the properties to return"),
        ("$orderby", "sort order: properties or expressions, asc or desc"),
        ("$top", "page size (at most the server's max page size)"),
        ("$skip", "entities to skip"),
        ("$count", "true: include @iot.count"),
        ("$resultFormat", "dataArray: Observations as arrays of components"),
        ("$skiptoken", "where the next page starts (as given in @iot.nextLink)"),
    )
]  # fmt: skip


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_WRITE_ERRORS = errors(400, 401, 403, 404, 405)


def conformance(ctx: ApiContext) -> list[str]:
    """The conformance classes this server implements (see docs/sensorthings.md)."""
    classes = [
        _SPEC + "datamodel",
        _SPEC + "resource-path/resource-path-to-entities",
        _SPEC + "request-data",
        _SPEC + "data-array/data-array",
    ]
    if ctx.config.sta_mqtt_enabled:
        classes.append(MQTT_CLASS)
    return classes


def mqtt_endpoint(ctx: ApiContext) -> str:
    """The broker as clients reach it: the configured host, or the public URL's host
    when the API talks to a broker on loopback."""
    host = ctx.config.mqtt_host
    if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", ""):  # noqa: S104 - a comparison
        host = urlsplit(ctx.config.public_url).hostname or host
    return f"mqtt://{host}:{ctx.config.mqtt_port}"


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialised with orjson."""
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def sta_errors(request: Request, exc: BaseException) -> Response | None:
    """The response for an error a SensorThings handler raised, or None to re-raise."""
    if isinstance(exc, StaError):
        return format_error(request, exc.status, exc.message, None)
    if isinstance(exc, TimeoutError | asyncpg.QueryCanceledError):
        return format_error(
            request, 400, f"the query ran longer than {READ_TIMEOUT_S:g} s; narrow it, e.g. with a "
            "phenomenonTime range in $filter", None,
        )  # fmt: skip
    if isinstance(exc, asyncpg.DataError):
        return format_error(request, 400, f"the query cannot be evaluated: {exc}", None)
    return None


def _devices_changed(request: Request, path: str) -> None:
    """A write of a Thing or Location changed a device: what open data shares about
    devices is renewed at once (writes of Observations change no device)."""
    if "Observation" not in path:
        od: OpenData = request.app.state.open_data
        od.devices_changed()


def build_router(ctx: ApiContext) -> APIRouter:
    """The SensorThings router over ``ctx``."""
    router = APIRouter(prefix=PREFIX, tags=["OGC SensorThings API 1.1"], responses=errors(429))
    cache = CatalogueCache(ctx.profiles, ctx.metrics.by_name)
    base = ctx.config.public_url.rstrip("/") + PREFIX
    limits = Limits(
        default_top=ctx.config.default_page_size,
        max_top=ctx.config.max_page_size,
        max_skip=ctx.config.max_history_points,
    )

    if ctx.config.sta_mqtt_enabled:
        publisher = StaMqttPublisher(ctx, base)
        ctx.background.append(("sensorthings-mqtt", publisher.run))

    @router.get(
        "",
        summary="Service root: entity sets and conformance classes",
        responses={200: {"model": ServiceRoot, "description": "The service root"}},
    )
    async def root() -> Response:
        settings: dict[str, object] = {"conformance": conformance(ctx)}
        if ctx.config.sta_mqtt_enabled:
            settings[MQTT_CLASS] = {"endpoints": [mqtt_endpoint(ctx)]}
        body = {
            "value": [{"name": name, "url": f"{base}/{name}"} for name in SETS],
            "serverSettings": settings,
        }
        return json_response(body)

    @router.get(
        "/{path:path}",
        summary="Entities, collections, properties and references",
        responses=_READ,
        openapi_extra={"parameters": _QUERY_OPTIONS},
    )
    async def get(path: str, request: Request) -> Response:
        """Resolve the path, apply the query options, answer SensorThings JSON."""
        # The query options are read by ``parse_options`` (documented in openapi_extra,
        # not declared as parameters: FastAPI's per-parameter validation cost more than
        # the rest of a page of Observations).
        if not path.strip("/"):
            return await root()
        try:
            async with ctx.pool.acquire(timeout=10) as conn:
                catalogue = await cache.get(conn)
                rc = ReadContext(conn, catalogue, base, limits, limits.max_skip)
                body = await read(rc, path, list(request.query_params.multi_items()))
        except (StaError, TimeoutError, asyncpg.QueryCanceledError, asyncpg.DataError) as exc:
            resp = sta_errors(request, exc)
            assert resp is not None
            return resp
        if isinstance(body, str):
            return Response(body, media_type="text/plain; charset=utf-8")
        return json_response(body)

    async def _body(request: Request) -> object:
        raw = await request.body()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StaError(400, "the request body is not JSON") from None

    async def _entity(conn: ConnDep, path: str) -> object:
        catalogue = await cache.get(conn)
        return await read(ReadContext(conn, catalogue, base, limits, limits.max_skip), path, [])

    @router.post(
        "/{path:path}",
        summary="Create (operators): Things, Locations, Observations",
        status_code=201,
        responses={
            201: {
                "description": "The entity created (its URL in Location); for "
                "CreateObservations, each Observation's selfLink or why it was refused",
                "content": {"application/json": {"schema": _ANY_JSON}},
            },
            **_WRITE_ERRORS,
            **errors(409),
        },
        # An entity; an array of Datastreams' dataArrays for CreateObservations.
        openapi_extra=_json_body(_ANY_JSON),
    )
    async def post(path: str, request: Request, conn: ConnDep, who: Operator) -> Response:
        """Create an entity, or many Observations with CreateObservations."""
        try:
            writes = Writes(ctx, conn, await cache.get(conn), who)
            status, made = await writes.post(path, await _body(request))
            if isinstance(made, list):
                return json_response(made, status)
            assert made is not None
            body = await _entity(conn, made)
        except (StaError, asyncpg.DataError) as exc:
            resp = sta_errors(request, exc)
            assert resp is not None
            return resp
        _devices_changed(request, path)
        return json_response(body, status, {"Location": f"{base}/{made}"})

    @router.patch(
        "/{path:path}",
        summary="Update (operators): Things, Locations, Observations",
        responses={
            200: {
                "description": "The entity as changed",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_WRITE_ERRORS,
        },
        openapi_extra=_json_body({"type": "object"}),
    )
    async def patch(path: str, request: Request, conn: ConnDep, who: Operator) -> Response:
        """Change the given properties of an entity."""
        try:
            writes = Writes(ctx, conn, await cache.get(conn), who)
            made = await writes.patch(path, await _body(request))
            body = await _entity(conn, made)
        except (StaError, asyncpg.DataError) as exc:
            resp = sta_errors(request, exc)
            assert resp is not None
            return resp
        _devices_changed(request, path)
        return json_response(body)

    @router.delete(
        "/{path:path}",
        summary="Delete (operators): Things, Locations, Observations",
        response_class=Response,
        responses={200: {"description": "Deleted (no body)"}, **_WRITE_ERRORS},
    )
    async def delete(path: str, request: Request, conn: ConnDep, who: Operator) -> Response:
        """Delete an entity (a Thing with its observations)."""
        try:
            await Writes(ctx, conn, await cache.get(conn), who).delete(path)
        except (StaError, asyncpg.DataError) as exc:
            resp = sta_errors(request, exc)
            assert resp is not None
            return resp
        _devices_changed(request, path)
        return Response(status_code=200)

    return router
