"""The alarm lifecycle in the database: raise (or count a repeat), clear, acknowledge,
escalate; each change recorded in ``alarm_events`` and its actions started in the same
transaction (service requests, outbox rows), so a crash never leaves half of one.

One active alarm per (rule, subject) is kept by a unique partial index; raising while
one is active adds to its count instead of opening another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import orjson

from ingest.db import Conn

from ..definition.model import Rule
from ..evaluation.events import AlarmEvent

log = logging.getLogger(__name__)

__all__ = [
    "ALARM_COLUMNS",
    "ActionSink",
    "AlarmRow",
    "acknowledge",
    "apply_event",
    "clear_alarm",
    "escalate_due",
    "to_dt",
]

ALARM_COLUMNS = (
    "a.id, a.rule_id, a.rule_version, r.name AS rule_name, a.subject, a.device_key, a.severity, "
    "a.active, a.acknowledged, a.count, a.raised_at, a.last_raised_at, a.cleared_at, "
    "a.cleared_by, a.acknowledged_at, a.acknowledged_by, a.escalated_at, a.updated_at, "
    "a.details::text AS details"
)


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """An alarm as stored."""

    id: int
    rule_id: int
    rule_version: int
    rule_name: str
    subject: str
    device_key: int | None
    severity: str
    active: bool
    acknowledged: bool
    count: int
    raised_at: datetime
    last_raised_at: datetime | None
    cleared_at: datetime | None
    cleared_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    updated_at: datetime
    details: dict[str, Any]

    @classmethod
    def of(cls, r: asyncpg.Record) -> AlarmRow:
        """From a row selected with :data:`ALARM_COLUMNS`."""
        data = {k: r[k] for k in cls.__slots__}
        data["details"] = orjson.loads(data["details"])
        return cls(**data)

    def as_json(self) -> dict[str, Any]:
        """The alarm as webhook payloads and the API show it."""
        return {
            "id": self.id, "rule": {"id": self.rule_id, "name": self.rule_name,
                                    "version": self.rule_version},
            "subject": self.subject, "severity": self.severity, "active": self.active,
            "acknowledged": self.acknowledged, "count": self.count,
            "raised_at": self.raised_at.isoformat(),
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            "details": self.details,
        }  # fmt: skip


class ActionSink(Protocol):
    """Starts a rule's actions inside the alarm's transaction."""

    async def raised(self, conn: Conn, alarm: AlarmRow, rule: Rule) -> None:
        """A new alarm was raised."""

    async def cleared(self, conn: Conn, alarm: AlarmRow, rule: Rule | None, note: str) -> None:
        """An alarm was cleared (by its rule or by an operator)."""

    async def escalated(self, conn: Conn, alarm: AlarmRow, rule: Rule) -> None:
        """An alarm was escalated."""


def to_dt(us: int) -> datetime:
    """Epoch microseconds as an aware datetime."""
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


async def _select(conn: Conn, alarm_id: int) -> AlarmRow:
    r = await conn.fetchrow(
        f"SELECT {ALARM_COLUMNS} FROM alarms a JOIN rules r ON r.id = a.rule_id "  # noqa: S608
        "WHERE a.id = $1",
        alarm_id,
    )
    assert r is not None
    return AlarmRow.of(r)


async def _event(
    conn: Conn, alarm_id: int, kind: str, actor: str, details: dict[str, Any], at: datetime | None
) -> None:
    await conn.execute(
        "INSERT INTO alarm_events (alarm_id, kind, actor, details, at) "
        "VALUES ($1, $2, $3, $4::jsonb, coalesce($5, now()))",
        alarm_id, kind, actor, orjson.dumps(details).decode(), at,
    )  # fmt: skip


_RAISE = """
INSERT INTO alarms AS a (rule_id, rule_version, subject, device_key, severity, raised_at,
                         last_raised_at, details)
VALUES ($1, $2, $3, $4, $5, $6, $6, $7::jsonb)
ON CONFLICT (rule_id, subject) WHERE active DO UPDATE
    SET count = a.count + 1, last_raised_at = excluded.last_raised_at,
        details = a.details || jsonb_build_object('last', excluded.details),
        updated_at = now()
RETURNING id, count
"""


async def apply_event(
    conn: Conn, event: AlarmEvent, rule: Rule, actions: ActionSink | None
) -> AlarmRow | None:
    """Write one evaluation event; returns the alarm it created or changed (None for a
    clear with nothing active, or with auto-clear off)."""
    at = to_dt(event.t_us)
    details: dict[str, Any] = {
        "metric": event.metric, "value": event.value, "time": at.isoformat(), **event.details,
    }  # fmt: skip
    async with conn.transaction():
        if event.kind == "raised":
            r = await conn.fetchrow(
                _RAISE, event.rule_id, event.rule_version, event.subject, event.device_key,
                rule.severity, at, orjson.dumps(details).decode(),
            )  # fmt: skip
            assert r is not None
            repeat = r["count"] > 1
            await _event(conn, r["id"], "repeated" if repeat else "raised", "rule", details, at)
            alarm = await _select(conn, r["id"])
            if not repeat and actions is not None:
                await actions.raised(conn, alarm, rule)
            return alarm
        if not rule.auto_clear:
            return None
        alarm_id = await conn.fetchval(
            "UPDATE alarms SET active = false, cleared_at = $3, cleared_by = 'rule', "
            "updated_at = now() WHERE rule_id = $1 AND subject = $2 AND active RETURNING id",
            event.rule_id, event.subject, at,
        )  # fmt: skip
        if alarm_id is None:
            return None
        await _event(conn, alarm_id, "cleared", "rule", details, at)
        alarm = await _select(conn, alarm_id)
        if actions is not None:
            await actions.cleared(conn, alarm, rule, "the condition no longer holds")
        return alarm


async def acknowledge(conn: Conn, alarm_id: int, actor: str, note: str = "") -> AlarmRow | None:
    """An operator acknowledges an alarm (idempotent); None if there is no such alarm."""
    async with conn.transaction():
        changed = await conn.fetchval(
            "UPDATE alarms SET acknowledged = true, acknowledged_at = now(), "
            "acknowledged_by = $2, updated_at = now() WHERE id = $1 AND NOT acknowledged "
            "RETURNING id",
            alarm_id, actor,
        )  # fmt: skip
        if changed is not None:
            await _event(conn, alarm_id, "acknowledged", actor, {"note": note}, None)
        exists = await conn.fetchval("SELECT 1 FROM alarms WHERE id = $1", alarm_id)
        return await _select(conn, alarm_id) if exists else None


async def clear_alarm(
    conn: Conn,
    alarm_id: int,
    actor: str,
    note: str,
    rule: Rule | None,
    actions: ActionSink | None,
) -> AlarmRow | None:
    """An operator clears an alarm (idempotent); None if there is no such alarm."""
    async with conn.transaction():
        changed = await conn.fetchval(
            "UPDATE alarms SET active = false, cleared_at = now(), cleared_by = $2, "
            "updated_at = now() WHERE id = $1 AND active RETURNING id",
            alarm_id, actor,
        )  # fmt: skip
        exists = await conn.fetchval("SELECT 1 FROM alarms WHERE id = $1", alarm_id)
        if not exists:
            return None
        alarm = await _select(conn, alarm_id)
        if changed is not None:
            await _event(conn, alarm_id, "cleared", actor, {"note": note}, None)
            if actions is not None:
                await actions.cleared(conn, alarm, rule, note or f"cleared by {actor}")
        return alarm


_DUE = f"""
SELECT {ALARM_COLUMNS}, r.definition::text AS definition
FROM alarms a JOIN rules r ON r.id = a.rule_id
WHERE a.active AND a.escalated_at IS NULL AND r.definition ? 'escalation'
  AND jsonb_typeof(r.definition -> 'escalation') = 'object'
ORDER BY a.raised_at
"""  # noqa: S608 - constant SQL


async def escalate_due(conn: Conn, now: datetime, actions: ActionSink | None) -> list[AlarmRow]:
    """Escalate every active alarm whose rule's escalation time has passed."""
    done: list[AlarmRow] = []
    for r in await conn.fetch(_DUE):
        rule = Rule.model_validate_json(r["definition"])
        esc = rule.escalation
        if esc is None:
            continue
        alarm = AlarmRow.of(r)
        if alarm.acknowledged and not esc.even_if_acknowledged:
            continue
        if (now - alarm.raised_at).total_seconds() * 1e6 < esc.after:
            continue
        async with conn.transaction():
            changed = await conn.fetchval(
                "UPDATE alarms SET escalated_at = $2, severity = coalesce($3, severity), "
                "updated_at = now() WHERE id = $1 AND active AND escalated_at IS NULL "
                "RETURNING id",
                alarm.id, now, esc.severity,
            )  # fmt: skip
            if changed is None:
                continue
            await _event(
                conn, alarm.id, "escalated", "rule",
                {"from": alarm.severity, "to": esc.severity or alarm.severity}, now,
            )  # fmt: skip
            alarm = await _select(conn, alarm.id)
            if esc.renotify and actions is not None:
                await actions.escalated(conn, alarm, rule)
        done.append(alarm)
    return done
