"""The outbox (operators): pending and failed webhook and command deliveries, and retry
now. Webhook targets are city-wide, so this needs a key without a district scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from rules.actions.outbox_store import Delivery, get_delivery, list_deliveries, retry_delivery

from ..deps import Config, ConnDep, Operator
from ..errors import errors

# City-wide: a key with a district scope is refused (403).
router = APIRouter(
    prefix="/api/v1/outbox", tags=["operator: outbox"], responses=errors(401, 403, 429)
)
_NOT_FOUND = (404, "No delivery with this id")

_SCOPE = "the outbox (city-wide)"


class DeliveryOut(BaseModel):
    """One delivery and where it stands."""

    id: int
    kind: str
    target: str
    payload: object
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    dedup_key: str | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        """From the stored row."""
        return cls(
            id=d.id, kind=d.kind, target=d.target, payload=orjson.loads(d.payload),
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
            last_attempt_at=d.last_attempt_at, last_error=d.last_error,
            created_at=d.created_at, delivered_at=d.delivered_at, failed_at=d.failed_at,
            dedup_key=d.dedup_key,
        )  # fmt: skip


@router.get("")
async def deliveries(
    conn: ConnDep,
    config: Config,
    principal: Operator,
    state: Literal["pending", "failed", "delivered"] | None = None,
    kind: Literal["webhook", "command"] | None = None,
    before_id: int | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> list[DeliveryOut]:
    """Deliveries newest first, by state and kind; page with ``before_id``."""
    principal.check_district(None, _SCOPE)
    rows = await list_deliveries(
        conn,
        state=state,
        kind=kind,
        before_id=before_id,
        limit=min(limit or config.default_page_size, config.max_page_size),
    )
    return [DeliveryOut.of(d) for d in rows]


@router.get("/{delivery_id}", responses=errors(_NOT_FOUND))
async def delivery(delivery_id: int, conn: ConnDep, principal: Operator) -> DeliveryOut:
    """One delivery."""
    principal.check_district(None, _SCOPE)
    found = await get_delivery(conn, delivery_id)
    if found is None:
        raise HTTPException(404, f"delivery {delivery_id} not found")
    return DeliveryOut.of(found)


@router.post(
    "/{delivery_id}/retry",
    responses=errors(_NOT_FOUND, (409, "The delivery was delivered already")),
)
async def retry(delivery_id: int, conn: ConnDep, principal: Operator) -> DeliveryOut:
    """Make a failed (or waiting) delivery due now, with a fresh count of attempts."""
    principal.check_district(None, _SCOPE)
    retried = await retry_delivery(conn, delivery_id)
    if retried is None:
        found = await get_delivery(conn, delivery_id)
        if found is None:
            raise HTTPException(404, f"delivery {delivery_id} not found")
        raise HTTPException(409, f"delivery {delivery_id} was already delivered")
    return DeliveryOut.of(retried)
