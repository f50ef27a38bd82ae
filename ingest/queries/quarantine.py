"""Browsing the quarantine: refused messages with their reasons, newest first, filtered
and paged by a (received_at, id) cursor so a page never skips or repeats a row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..db import Conn

__all__ = ["QuarantineFilter", "QuarantinedMessage", "quarantine_page", "quarantine_reasons"]

# The most payload bytes one listed message carries (payloads are capped at ingest, but
# a page of them must stay small).
PAYLOAD_SHOWN = 64 * 1024


@dataclass(frozen=True, slots=True)
class QuarantineFilter:
    """Which refused messages: by reason code, device, time range and district scope."""

    reason: str | None = None
    device_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    districts: Sequence[str] | None = None  # None: every message; else only known devices'

    def args(self) -> tuple[object, ...]:
        """Bind values for ``_WHERE`` ($1..$5)."""
        return (
            self.reason,
            self.device_id,
            self.since,
            self.until,
            list(self.districts) if self.districts is not None else None,
        )


_WHERE = """
    ($1::text IS NULL OR q.reason_code = $1::text)
AND ($2::text IS NULL OR q.device_id = $2::text)
AND ($3::timestamptz IS NULL OR q.received_at >= $3::timestamptz)
AND ($4::timestamptz IS NULL OR q.received_at < $4::timestamptz)
AND ($5::text[] IS NULL OR EXISTS (
        SELECT 1 FROM devices d WHERE d.id = q.device_id AND d.district = ANY($5::text[])))
"""


@dataclass(frozen=True, slots=True)
class QuarantinedMessage:
    """One refused message (its payload cut to ``PAYLOAD_SHOWN`` bytes)."""

    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason_code: str
    reason: str
    payload: bytes
    payload_size: int


async def quarantine_page(
    conn: Conn,
    flt: QuarantineFilter,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[QuarantinedMessage]:
    """Up to ``limit`` messages older than the cursor ``before`` (received_at, id)."""
    rows = await conn.fetch(
        "SELECT q.id, q.received_at, q.topic, q.device_id, q.reason_code, q.reason, "  # noqa: S608
        "substring(q.payload FROM 1 FOR $9) AS payload, q.payload_size "
        f"FROM quarantine q WHERE {_WHERE} "
        "AND ($6::timestamptz IS NULL OR (q.received_at, q.id) < ($6::timestamptz, $7::bigint)) "
        "ORDER BY q.received_at DESC, q.id DESC LIMIT $8",
        *flt.args(),
        before[0] if before else None,
        before[1] if before else None,
        limit,
        PAYLOAD_SHOWN,
    )
    return [
        QuarantinedMessage(
            r["id"],
            r["received_at"],
            r["topic"],
            r["device_id"],
            r["reason_code"],
            r["reason"],
            bytes(r["payload"]),
            r["payload_size"],
        )
        for r in rows
    ]


async def quarantine_reasons(conn: Conn, flt: QuarantineFilter) -> dict[str, int]:
    """Number of refused messages per reason code."""
    rows = await conn.fetch(
        f"SELECT q.reason_code, count(*) AS n FROM quarantine q WHERE {_WHERE} "  # noqa: S608
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        *flt.args(),
    )
    return {str(r["reason_code"]): int(r["n"]) for r in rows}
