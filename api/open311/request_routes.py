"""GeoReport v2 service requests: GET with the spec's filters, GET by id, POST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from rules.actions.service_requests import (
    NotFound,
    ServiceRequestError,
    create_citizen_request,
    get_request,
    list_requests,
)

from ..auth import Authenticator
from ..deps import Config, ConnDep
from .common import Format, Jurisdiction, blank_to_none, check_jurisdiction
from .errors import error_response
from .form import FormError, citizen_request, read_form
from .models import FORM_SCHEMA, PostedRequest, PublicRequest, errors, success
from .render import check_format, public_request, respond

# Every answer is in the URL's format; a client over its rate gets 429.
router = APIRouter(tags=["Open311 GeoReport v2"], responses=errors(429))

WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000


def _split(values: list[str]) -> list[str]:
    """Values that may be repeated and comma separated, empty ones dropped."""
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _date(name: str, value: str | None) -> datetime | None:
    value = blank_to_none(value)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            400, f"{name}: {value!r} is not a W3C date/time such as 2010-01-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise HTTPException(400, f"{name}: a time zone (Z or +hh:mm) is required")
    return parsed


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The spec's range: the 90 days ending at ``end`` or now, or starting at ``start``."""
    if start is None and end is None:
        end = datetime.now(UTC)
    if start is None:
        assert end is not None
        return end - WINDOW, end
    if end is None:
        return start, start + WINDOW
    if end < start:
        raise HTTPException(400, "end_date is before start_date")
    if end - start > WINDOW:
        raise HTTPException(400, "start_date and end_date may not span more than 90 days")
    return start, end


@router.get(
    "/open311/v2/requests.{fmt}",
    summary="GET Service Requests",
    responses={
        **success(200, list[PublicRequest], "The requests, newest first"),
        **errors(
            (400, "A filter is invalid (ids, status, dates, a range over 90 days)"),
            (404, "Unknown format (use .json or .xml), or jurisdiction_id"),
        ),
    },
)
async def requests(
    fmt: Format,
    conn: ConnDep,
    _: Jurisdiction,
    service_request_id: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies it
    service_code: Annotated[list[str], Query()] = [],  # noqa: B006
    start_date: str | None = None,
    end_date: str | None = None,
    status: Annotated[list[str], Query()] = [],  # noqa: B006
) -> Response:
    """Requests, newest first: by id (overrides every other filter), or by service code,
    status and requested time (at most 90 days, the latest 90 by default; 1000 at most)."""
    fmt = check_format(fmt)
    ids = _split(service_request_id)
    if ids:
        if not all(i.isdigit() and len(i) < 19 for i in ids):
            raise HTTPException(400, "service_request_id must be numbers, comma separated")
        found = await list_requests(conn, ids=[int(i) for i in ids[:MAX_REQUESTS]])
    else:
        statuses = _split(status)
        bad = [s for s in statuses if s not in ("open", "closed")]
        if bad:
            raise HTTPException(400, f"status {bad[0]!r} is not one of open, closed")
        start, end = _window(_date("start_date", start_date), _date("end_date", end_date))
        found = await list_requests(
            conn,
            service_codes=_split(service_code) or None,
            statuses=statuses or None,
            start=start,
            end=end,
            limit=MAX_REQUESTS,
        )
    return respond(fmt, "service_requests", [public_request(r) for r in found])


@router.get(
    "/open311/v2/requests/{service_request_id}.{fmt}",
    summary="GET Service Request",
    responses={
        **success(200, list[PublicRequest], "The request, as a list of one"),
        **errors((404, "Unknown format (use .json or .xml), jurisdiction_id or request")),
    },
)
async def request_by_id(
    service_request_id: str, fmt: Format, conn: ConnDep, _: Jurisdiction
) -> Response:
    """One request (as a list of one, as the spec has it)."""
    fmt = check_format(fmt)
    if not service_request_id.isdigit() or len(service_request_id) > 18:
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found")
    try:
        found = await get_request(conn, int(service_request_id))
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return respond(fmt, "service_requests", [public_request(found)])


@router.post(
    "/open311/v2/requests.{fmt}",
    summary="POST Service Request",
    status_code=201,
    responses={
        **success(201, list[PostedRequest], "The request was filed"),
        **errors(
            (400, "A form field is missing or invalid, or the form is too large"),
            403,
            (404, "Unknown format (use .json or .xml), jurisdiction_id or service_code"),
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": FORM_SCHEMA}},
        }
    },
)
async def post_request(fmt: Format, request: Request, conn: ConnDep, config: Config) -> Response:
    """File a request (form-encoded, with ``api_key``); answers the new
    service_request_id, or a token for ``batch`` services, or neither for ``blackbox``."""
    fmt = check_format(fmt)
    try:
        form = await read_form(request)
    except FormError as exc:
        return error_response(fmt, 400, exc.problems)
    check_jurisdiction(config, form.fields.get("jurisdiction_id"))
    if not form.api_key:
        raise HTTPException(403, "api_key is required to create a service request")
    auth: Authenticator = request.app.state.auth
    if await auth.verify(form.api_key) is None:
        raise HTTPException(403, "invalid api_key received -- can't proceed with create_request")
    try:
        wanted = citizen_request(form)
        async with conn.transaction():
            created = await create_citizen_request(conn, wanted)
            kind = await conn.fetchval(
                "SELECT type FROM service_types WHERE service_code = $1", created.service_code
            )
    except FormError as exc:
        return error_response(fmt, 400, exc.problems)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ServiceRequestError as exc:
        return error_response(fmt, 400, exc.problems)
    answer: dict[str, object] = {}
    if kind == "realtime":
        answer["service_request_id"] = created.id
    elif kind == "batch":
        answer["token"] = created.token
    answer["service_notice"] = created.service_notice
    answer["account_id"] = created.account_id
    return respond(fmt, "service_requests", [answer], status=201)
