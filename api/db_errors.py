"""Values the database refuses (SQLSTATE class 22, data exceptions: a NUL character in a
text, a number out of range) are the request's fault: answered 422 with the database's
reason, in the error format of the request's path, never 500."""

from __future__ import annotations

import inspect

import asyncpg
from fastapi import FastAPI, HTTPException, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["install_data_error_handler"]


def install_data_error_handler(app: FastAPI) -> None:
    """Route ``asyncpg.DataError`` through the app's HTTP error handler as a 422."""
    http_error = app.exception_handlers[StarletteHTTPException]

    async def data_error(request: Request, exc: Exception) -> Response:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        response = http_error(
            request, HTTPException(422, f"a value in the request was refused: {reason}")
        )
        if inspect.isawaitable(response):
            response = await response
        assert isinstance(response, Response)
        return response

    app.add_exception_handler(asyncpg.DataError, data_error)
