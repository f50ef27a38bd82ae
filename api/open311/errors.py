"""GeoReport v2 errors: ``[{"code", "description"}]`` or ``<errors><error>``, in the
format the URL's extension names, with the spec's HTTP codes (403 for a missing or bad
api_key, 404 for what does not exist, 400 for any other request it cannot fulfil)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request, Response

from .render import error_list, respond

__all__ = ["error_response", "open311_errors"]

# Our API's statuses -> the spec's: no key or a bad key is 403; a malformed request 400.
_STATUS = {401: 403, 422: 400}


def error_response(
    fmt: str, status: int, problems: Sequence[str], headers: dict[str, str] | None = None
) -> Response:
    """An error answer listing every problem."""
    response = respond(fmt, "errors", error_list(status, problems), status)
    for name, value in (headers or {}).items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


def open311_errors(
    request: Request, status: int, message: str, headers: dict[str, str] | None
) -> Response:
    """The error formatter registered for ``/open311``."""
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    return error_response(fmt, _STATUS.get(status, status), [message], headers)
