"""A rule's actions, started inside the alarm's transaction: Open311 service requests
(opened on raise, noted on clear), webhooks and device commands (durable outbox rows
the sender delivers). Every outbox row has a dedup key made of the alarm, the event and
the action, so a retried transaction never enqueues one twice.

Checks of the actions for rule validation (service codes exist, webhook URLs are
allowed targets) are here too.
"""

from __future__ import annotations

import logging
from typing import Any

from ingest.db import Conn

from ..definition.model import CommandAction, Rule, ServiceRequestAction, WebhookAction
from .alarms import AlarmRow
from .outbox import enqueue
from .service_requests import ServiceRequestError, note_alarm_cleared, open_request_for_alarm
from .ssrf import WebhookPolicy, check_webhook_url

log = logging.getLogger(__name__)

__all__ = ["RuleActions", "check_actions"]


def check_actions(rule: Rule, service_codes: set[str], policy: WebhookPolicy) -> list[str]:
    """Problems with a rule's actions: unknown service codes, refused webhook targets."""
    problems: list[str] = []
    for i, action in enumerate(rule.actions):
        if isinstance(action, ServiceRequestAction) and action.service_code not in service_codes:
            known = ", ".join(sorted(service_codes)) or "none configured"
            problems.append(
                f"actions.{i}.service_code: unknown service {action.service_code!r} "
                f"(service types: {known})"
            )
        if isinstance(action, WebhookAction):
            reason = check_webhook_url(action.url, policy)
            if reason is not None:
                problems.append(f"actions.{i}.url: {reason}")
    return problems


def _payload(event: str, alarm: AlarmRow, rule: Rule) -> dict[str, Any]:
    return {
        "event": f"alarm.{event}",
        "alarm": alarm.as_json(),
        "rule": {"id": alarm.rule_id, "name": rule.name, "description": rule.description},
    }


class RuleActions:
    """The :class:`rules.actions.alarms.ActionSink` that runs rule actions."""

    async def raised(self, conn: Conn, alarm: AlarmRow, rule: Rule) -> None:
        """Open service requests, enqueue webhooks and commands for a new alarm."""
        for i, action in enumerate(rule.actions):
            if isinstance(action, ServiceRequestAction):
                await self._open_request(conn, alarm, rule, action)
            elif isinstance(action, WebhookAction) and "raised" in action.on:
                await enqueue(
                    conn, "webhook", action.url, _payload("raised", alarm, rule),
                    f"alarm:{alarm.id}:raised:{i}",
                )  # fmt: skip
            elif isinstance(action, CommandAction) and action.on == "raised":
                await self._command(conn, alarm, action, f"alarm:{alarm.id}:raised:{i}")

    async def cleared(self, conn: Conn, alarm: AlarmRow, rule: Rule | None, note: str) -> None:
        """Note the clear on service requests; enqueue webhooks and commands."""
        if rule is None:
            return
        for i, action in enumerate(rule.actions):
            if isinstance(action, ServiceRequestAction) and action.note_on_clear:
                await note_alarm_cleared(conn, alarm.id, f"alarm cleared: {note}")
            elif isinstance(action, WebhookAction) and "cleared" in action.on:
                await enqueue(
                    conn, "webhook", action.url, _payload("cleared", alarm, rule) | {"note": note},
                    f"alarm:{alarm.id}:cleared:{i}",
                )  # fmt: skip
            elif isinstance(action, CommandAction) and action.on == "cleared":
                await self._command(conn, alarm, action, f"alarm:{alarm.id}:cleared:{i}")

    async def escalated(self, conn: Conn, alarm: AlarmRow, rule: Rule) -> None:
        """Notify again (webhooks subscribed to escalations)."""
        for i, action in enumerate(rule.actions):
            if isinstance(action, WebhookAction) and "escalated" in action.on:
                await enqueue(
                    conn, "webhook", action.url, _payload("escalated", alarm, rule),
                    f"alarm:{alarm.id}:escalated:{i}",
                )  # fmt: skip

    async def _open_request(
        self, conn: Conn, alarm: AlarmRow, rule: Rule, action: ServiceRequestAction
    ) -> None:
        where = None
        if alarm.device_key is not None:
            where = await conn.fetchrow(
                "SELECT ST_X(location) AS lon, ST_Y(location) AS lat FROM devices "
                "WHERE device_key = $1",
                alarm.device_key,
            )
        value = alarm.details.get("value")
        metric = alarm.details.get("metric")
        measured = f" ({metric} {value:g})" if isinstance(value, int | float) and metric else ""
        description = (
            action.description or rule.description or f"{rule.name}: {alarm.subject}"
        ) + measured
        try:
            await open_request_for_alarm(
                conn, service_code=action.service_code, device_key=alarm.device_key,
                alarm_id=alarm.id, description=description,
                lon=where["lon"] if where else None, lat=where["lat"] if where else None,
            )  # fmt: skip
        except ServiceRequestError as exc:
            # The service type was removed after the rule was checked: the alarm stands,
            # the missing request is logged (and visible: no request on the alarm).
            log.error("rule %s: no service request for alarm %d: %s", rule.name, alarm.id, exc)

    async def _command(
        self, conn: Conn, alarm: AlarmRow, action: CommandAction, dedup: str
    ) -> None:
        if alarm.device_key is None:
            return
        await enqueue(
            conn, "command", alarm.subject,
            {"command": action.command, "params": dict(action.params)}, dedup,
        )  # fmt: skip
