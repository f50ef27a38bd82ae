"""Operator: browse the quarantine (refused messages with their reasons), filtered by
reason, device and time, newest first, paged with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ingest.queries.buckets import from_us, to_us
from ingest.queries.quarantine import (
    QuarantinedMessage,
    QuarantineFilter,
    quarantine_page,
    quarantine_reasons,
)

from ..auth import Principal
from ..deps import ConnDep, Viewer
from ..open_data.models import QuarantinedPublic, QuarantinePage, QuarantineReasons
from ..open_data.params import MAX_TIME_US, MIN_TIME_US, bad, check_page_size, page_link
from ..open_data.state import Ctx
from .device_admin import OPERATOR_RESPONSES

router = APIRouter(
    prefix="/api/v1/quarantine", tags=["operator: quarantine"], responses=OPERATOR_RESPONSES
)

Reason = Annotated[str | None, Query(max_length=64, description="reason code, e.g. out_of_range")]
Device = Annotated[str | None, Query(max_length=128, description="device id")]
Since = Annotated[datetime | None, Query(alias="from", description="received at or after")]
Until = Annotated[datetime | None, Query(alias="to", description="received before")]


def _time(t: datetime | None, name: str) -> datetime | None:
    if t is None:
        return None
    us = to_us(t)
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise bad(f"'{name}' must lie between 1970-01-01 and 2200-01-01")
    return from_us(us)


def _filter(
    principal: Principal, reason: str | None, device: str | None,
    since: datetime | None, until: datetime | None,
) -> QuarantineFilter:  # fmt: skip
    scope = sorted(principal.districts) if principal.districts is not None else None
    return QuarantineFilter(reason, device, _time(since, "from"), _time(until, "to"), scope)


def _cursor(text: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)).decode()
        us, _, ident = raw.partition(":")
        at = from_us(int(us))
        return at, int(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise bad("cursor is not one this API handed out") from None


def _next_cursor(m: QuarantinedMessage) -> str:
    return base64.urlsafe_b64encode(f"{to_us(m.received_at)}:{m.id}".encode()).decode().rstrip("=")


def _public(m: QuarantinedMessage) -> QuarantinedPublic:
    try:
        text: str | None = m.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return QuarantinedPublic(
        id=m.id, received_at=m.received_at, topic=m.topic, device_id=m.device_id,
        reason_code=m.reason_code, reason=m.reason, payload_size=m.payload_size,
        payload_base64=base64.b64encode(m.payload).decode(), payload_text=text,
        payload_truncated=len(m.payload) < m.payload_size,
    )  # fmt: skip


@router.get("")
async def quarantine(
    request: Request,
    conn: ConnDep,
    ctx: Ctx,
    principal: Viewer,
    reason: Reason = None,
    device: Device = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000_000)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> QuarantinePage:
    """Refused messages, newest first. A key limited to districts sees only the messages
    of registered devices in them."""
    config = ctx.config
    size = check_page_size(limit or config.default_page_size, config.max_page_size)
    flt = _filter(principal, reason, device, since, until)
    before = _cursor(cursor) if cursor else None
    rows = await quarantine_page(conn, flt, size + 1, before)
    more = len(rows) > size
    rows = rows[:size]
    nxt = _next_cursor(rows[-1]) if more and rows else None
    link = page_link(request, config.public_url, cursor=nxt) if nxt else None
    return QuarantinePage(items=[_public(m) for m in rows], next_cursor=nxt, next=link)


@router.get("/reasons")
async def reasons(
    conn: ConnDep,
    principal: Viewer,
    reason: Reason = None,
    device: Device = None,
    since: Since = None,
    until: Until = None,
) -> QuarantineReasons:
    """How many refused messages per reason code, with the same filters."""
    counts = await quarantine_reasons(conn, _filter(principal, reason, device, since, until))
    return QuarantineReasons(total=sum(counts.values()), reasons=counts)
