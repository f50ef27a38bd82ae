"""The outbox table: enqueue (inside the caller's transaction), claim, record, inspect.

A row is *pending* (``delivered_at`` and ``failed_at`` NULL), *delivered*, or *failed*
after its last allowed attempt. Claiming a row moves its ``next_attempt_at`` forward by a
lease, so a second sender (or a restarted one) does not take it while it is in flight; a
sender that dies mid-delivery leaves the row to be claimed again when the lease ends.
Delivery is therefore at least once; receivers deduplicate by the delivery id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
import orjson

from gateway.downlink import MAX_COMMAND_BYTES
from ingest.db import Conn
from ingest.devices import DEVICE_ID_PATTERN

__all__ = [
    "Delivery",
    "OutboxError",
    "claim_due",
    "command_problem",
    "enqueue",
    "get_delivery",
    "list_deliveries",
    "outbox_counts",
    "prune_delivered",
    "record_attempt",
    "release",
    "retry_delivery",
]

Kind = Literal["webhook", "command"]
KINDS = ("webhook", "command")
_COMMAND_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
MAX_PAYLOAD_BYTES = 256 * 1024


class OutboxError(Exception):
    """A delivery that cannot be enqueued (bad kind, target or payload); says why."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row."""

    id: int
    kind: str
    target: str
    payload: str  # the stored JSON text: what a webhook sends, byte for byte, every try
    dedup_key: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None

    @property
    def state(self) -> str:
        """``pending``, ``delivered`` or ``failed``."""
        if self.delivered_at is not None:
            return "delivered"
        return "failed" if self.failed_at is not None else "pending"


_COLUMNS = (
    "id, kind, target, payload::text AS payload, dedup_key, attempts, next_attempt_at, "
    "created_at, last_attempt_at, delivered_at, failed_at, last_error"
)
_O_COLUMNS = (
    "o.id, o.kind, o.target, o.payload::text AS payload, o.dedup_key, o.attempts, "
    "o.next_attempt_at, o.created_at, o.last_attempt_at, o.delivered_at, o.failed_at, "
    "o.last_error"
)


def _row(r: asyncpg.Record) -> Delivery:
    return Delivery(**{k: r[k] for k in Delivery.__slots__})


def command_problem(device_id: str, payload: Mapping[str, object]) -> str | None:
    """Why a command cannot be sent (bad device id, name, parameters, size), or None."""
    if not _DEVICE_ID.match(device_id):
        return f"invalid device id {device_id!r}"
    command = payload.get("command")
    if not isinstance(command, str) or not _COMMAND_NAME.match(command):
        return (
            f"invalid command name {command!r}: a letter, then up to 63 letters, digits, "
            "'_', '.' or '-'"
        )
    params = payload.get("params", {})
    if not isinstance(params, Mapping):
        return "command params must be an object"
    try:
        size = len(orjson.dumps({"command": command, "params": params, "id": "0" * 20}))
    except TypeError as exc:
        return f"command params are not JSON: {exc}"
    if size > MAX_COMMAND_BYTES:
        return f"command of {size} bytes exceeds {MAX_COMMAND_BYTES}"
    return None


async def enqueue(
    conn: Conn,
    kind: Kind,
    target: str,
    payload: Mapping[str, object],
    dedup_key: str | None = None,
) -> int | None:
    """Insert a delivery; with a dedup_key already present, insert nothing and return None.

    Runs in the caller's transaction, so it commits (or not) with the caller's change.
    Checks happen before any SQL: a refused enqueue never aborts that transaction.
    """
    if kind not in KINDS:
        raise OutboxError(f"unknown outbox kind {kind!r}; use one of {', '.join(KINDS)}")
    if not target or len(target) > 2048:
        raise OutboxError("outbox target must be 1 to 2048 characters")
    if kind == "command":
        problem = command_problem(target, payload)
        if problem is not None:
            raise OutboxError(problem)
    try:
        body = orjson.dumps(payload)
    except TypeError as exc:
        raise OutboxError(f"outbox payload is not JSON: {exc}") from None
    if len(body) > MAX_PAYLOAD_BYTES:
        raise OutboxError(f"outbox payload of {len(body)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    new_id = await conn.fetchval(
        "INSERT INTO outbox (kind, target, payload, dedup_key) VALUES ($1, $2, $3::jsonb, $4) "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        kind,
        target,
        body.decode(),
        dedup_key,
    )
    return None if new_id is None else int(new_id)


async def claim_due(conn: Conn, limit: int, lease_s: float) -> list[Delivery]:
    """Take up to ``limit`` due deliveries for this sender: counts the attempt and leases
    the row for ``lease_s`` seconds. Rows other senders hold are skipped, not waited on."""
    rows = await conn.fetch(
        f"""
        UPDATE outbox o
        SET attempts = o.attempts + 1, last_attempt_at = now(),
            next_attempt_at = now() + make_interval(secs => $2)
        FROM (SELECT id FROM outbox
              WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
              ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due
        WHERE o.id = due.id
        RETURNING {_O_COLUMNS}
        """,  # noqa: S608 - column list is a constant
        limit,
        lease_s,
    )
    return sorted((_row(r) for r in rows), key=lambda d: d.id)


async def record_attempt(
    conn: Conn, delivery_id: int, error: str | None, retry_in_s: float | None
) -> None:
    """Record an attempt: delivered (``error`` None), retried after ``retry_in_s``, or
    failed for good (``retry_in_s`` None)."""
    if error is None:
        await conn.execute(
            "UPDATE outbox SET delivered_at = now(), last_error = NULL WHERE id = $1",
            delivery_id,
        )
    elif retry_in_s is None:
        await conn.execute(
            "UPDATE outbox SET failed_at = now(), last_error = $2 WHERE id = $1",
            delivery_id,
            error[:1000],
        )
    else:
        await conn.execute(
            "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3), "
            "last_error = $2 WHERE id = $1",
            delivery_id,
            error[:1000],
            retry_in_s,
        )


async def release(conn: Conn, ids: Sequence[int]) -> None:
    """Give back deliveries a stopping sender had claimed but not finished: due at once,
    and the interrupted attempt does not count."""
    await conn.execute(
        "UPDATE outbox SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0) "
        "WHERE id = ANY($1::bigint[]) AND delivered_at IS NULL AND failed_at IS NULL",
        list(ids),
    )


async def list_deliveries(
    conn: Conn,
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[Delivery]:
    """Deliveries newest first, optionally by state (pending, failed, delivered) and kind."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM outbox
        WHERE ($1::text IS NULL
               OR ($1 = 'pending' AND delivered_at IS NULL AND failed_at IS NULL)
               OR ($1 = 'failed' AND failed_at IS NOT NULL AND delivered_at IS NULL)
               OR ($1 = 'delivered' AND delivered_at IS NOT NULL))
          AND ($2::text IS NULL OR kind = $2)
          AND ($3::bigint IS NULL OR id < $3)
        ORDER BY id DESC LIMIT $4
        """,  # noqa: S608 - column list is a constant
        state,
        kind,
        before_id,
        limit,
    )
    return [_row(r) for r in rows]


async def get_delivery(conn: Conn, delivery_id: int) -> Delivery | None:
    """One delivery, or None."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM outbox WHERE id = $1",  # noqa: S608 - constant columns
        delivery_id,
    )
    return None if row is None else _row(row)


async def retry_delivery(conn: Conn, delivery_id: int) -> Delivery | None:
    """Make a pending or failed delivery due now with a fresh set of attempts; None when
    there is no such undelivered row."""
    row = await conn.fetchrow(
        f"""
        UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt_at = now()
        WHERE id = $1 AND delivered_at IS NULL
        RETURNING {_COLUMNS}
        """,  # noqa: S608 - column list is a constant
        delivery_id,
    )
    return None if row is None else _row(row)


async def outbox_counts(conn: Conn) -> dict[tuple[str, str], int]:
    """(kind, state) -> number of undelivered rows, for the pending and failed gauges."""
    rows = await conn.fetch(
        "SELECT kind, CASE WHEN failed_at IS NULL THEN 'pending' ELSE 'failed' END AS state, "
        "count(*) AS n FROM outbox WHERE delivered_at IS NULL GROUP BY 1, 2"
    )
    return {(r["kind"], r["state"]): int(r["n"]) for r in rows}


async def prune_delivered(conn: Conn, older_than_days: int, limit: int = 10_000) -> int:
    """Delete delivered rows older than ``older_than_days`` (a bounded batch)."""
    result = await conn.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE delivered_at < "
        "now() - make_interval(days => $1) LIMIT $2)",
        older_than_days,
        limit,
    )
    return int(result.split()[-1])
