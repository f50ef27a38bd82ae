"""Error responses. Our own API answers ``{"detail": "<readable message>"}``; standards
with their own error format (Open311, SensorThings) register a formatter for their
path prefix, so every error under that prefix, validation errors included, is shaped
the way their clients expect.

The OpenAPI document says so too: :func:`error_responses` builds the ``responses`` of a
router or route from status codes, and :func:`document_validation_errors` replaces the
``HTTPValidationError`` FastAPI documents by default (a body no route of ours answers)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .open_data.models import ErrorDetail

log = logging.getLogger(__name__)

__all__ = [
    "API_ERRORS",
    "ErrorFormatter",
    "ErrorSpec",
    "Responses",
    "document_validation_errors",
    "error_responses",
    "errors",
    "install_error_handlers",
    "validation_message",
]

# (request, status code, readable message, headers) -> response
ErrorFormatter = Callable[[Request, int, str, dict[str, str] | None], Response]
# The ``responses`` argument of FastAPI routers and routes.
Responses = dict[int | str, dict[str, Any]]
# A status code (with its usual description), or (status code, description).
ErrorSpec = int | tuple[int, str]

# What each status means on our own API (errors are ``{"detail": "<message>"}``).
API_ERRORS: Mapping[int, str] = {
    400: "The body cannot be read (it is not UTF-8 text)",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role or district scope does not cover this",
    404: "Not found",
    409: "Conflicts with the current state",
    422: "The request is invalid",
    429: "Too many requests from this client without a valid API key; see Retry-After",
    503: "Not available now; try again later",
}


def error_responses(
    specs: Iterable[ErrorSpec],
    model: Any,
    descriptions: Mapping[int, str],
    content: Mapping[str, Any] | None = None,
) -> Responses:
    """OpenAPI ``responses`` for error statuses whose JSON body is ``model`` (and, when
    given, other media types in ``content``)."""
    out: Responses = {}
    for spec in specs:
        status, text = spec if isinstance(spec, tuple) else (spec, descriptions[spec])
        entry: dict[str, Any] = {"model": model, "description": text}
        if content:
            entry["content"] = copy.deepcopy(dict(content))
        out[status] = entry
    return out


def errors(*specs: ErrorSpec) -> Responses:
    """The ``responses`` of our API's errors: ``errors(401, (404, "No such rule"))``."""
    return error_responses(specs, ErrorDetail, API_ERRORS)


def validation_message(exc: RequestValidationError) -> str:
    """One readable line per problem: ``query.bbox: <what is wrong>``."""
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _default(
    request: Request, status: int, message: str, headers: dict[str, str] | None
) -> Response:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, formatters: dict[str, ErrorFormatter]) -> None:
    """Route errors to the formatter of the longest matching path prefix."""
    ordered = sorted(formatters.items(), key=lambda kv: -len(kv[0]))

    def formatter_for(request: Request) -> ErrorFormatter:
        path = request.url.path
        for prefix, fmt in ordered:
            if path.startswith(prefix):
                return fmt
        return _default

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers) if exc.headers else None
        return formatter_for(request)(request, exc.status_code, detail, headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return formatter_for(request)(request, 422, validation_message(exc), None)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return formatter_for(request)(request, 500, "internal server error", None)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)


_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def document_validation_errors(app: FastAPI, own_format: Iterable[str]) -> None:
    """Make the app's OpenAPI document say what invalid requests are answered with.

    FastAPI documents a 422 ``HTTPValidationError`` (a list of problems) for every
    operation with parameters or a body; our handler answers ``{"detail": "<message>"}``
    instead. Operations under a prefix in ``own_format`` (standards with their own error
    format and codes) document their errors themselves: the default 422 is dropped there.
    """
    prefixes = tuple(own_format)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        replaced = False
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                default = responses.get("422", {})
                content = default.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref") != _VALIDATION_REF:
                    continue
                if path.startswith(prefixes):
                    del responses["422"]
                else:
                    responses["422"] = {
                        "description": API_ERRORS[422],
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorDetail"}
                            }
                        },
                    }
                    replaced = True
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if replaced:
            components.setdefault("ErrorDetail", ErrorDetail.model_json_schema())
        if _VALIDATION_REF not in str(schema.get("paths")):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
