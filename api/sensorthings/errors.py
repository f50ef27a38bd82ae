"""SensorThings errors: one exception carrying an HTTP status and a readable message, and
the formatter that shapes every error under ``/v1.1`` the way SensorThings clients expect
(``{"code": 400, "type": "error", "message": "..."}``)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

__all__ = ["StaError", "bad_request", "format_error", "not_found"]


class StaError(Exception):
    """A request the API refuses, with the status to answer and a message for a person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> StaError:
    """400 with ``message``."""
    return StaError(400, message)


def not_found(message: str) -> StaError:
    """404 with ``message``."""
    return StaError(404, message)


def format_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None
) -> Response:
    """The SensorThings error body (registered for the ``/v1.1`` prefix)."""
    return JSONResponse(
        {"code": status, "type": "error", "message": message}, status_code=status, headers=headers
    )
