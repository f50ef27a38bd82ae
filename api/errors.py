"""Error responses. Our own API answers ``{"detail": "<readable message>"}``; standards
with their own error format (Open311, SensorThings) register a formatter for their
path prefix, so every error under that prefix, validation errors included, is shaped
the way their clients expect."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

__all__ = ["ErrorFormatter", "install_error_handlers", "validation_message"]

# (request, status code, readable message, headers) -> response
ErrorFormatter = Callable[[Request, int, str, dict[str, str] | None], Response]


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
