"""SensorThings errors: one exception carrying an HTTP status and a readable message, and
the formatter that shapes every error under ``/v1.1`` the way SensorThings clients expect
(``{"code": 400, "type": "error", "message": "..."}``), and how the OpenAPI document
describes those errors."""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..errors import ErrorSpec, Responses, error_responses

__all__ = ["StaError", "StaErrorBody", "bad_request", "errors", "format_error", "not_found"]

STA_ERRORS = {
    400: "The path, a query option or the body is invalid, or the query ran too long",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role or district scope does not cover this",
    404: "No such entity set, entity or property",
    405: "This method is not supported on this path (e.g. a read-only entity set)",
    409: "Conflicts with stored data: the device id or the Observation exists",
    429: "Too many requests from this client without a valid API key; see Retry-After",
}


class StaErrorBody(BaseModel):
    """A SensorThings error."""

    code: int
    type: Literal["error"]
    message: str


def errors(*specs: ErrorSpec) -> Responses:
    """The ``responses`` of SensorThings errors: ``errors(400, 404)``."""
    return error_responses(specs, StaErrorBody, STA_ERRORS)


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
