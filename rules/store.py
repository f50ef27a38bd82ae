"""Stored rules: create or update by name (a changed definition gets a new version, so
its evaluation state starts afresh), enable, disable, delete, list."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
from pydantic import ValidationError

from ingest.db import Conn

from .definition.model import Rule
from .errors import RuleError
from .evaluation.compile import StoredRule

log = logging.getLogger(__name__)

__all__ = [
    "RuleRecord",
    "canonical",
    "delete_rule",
    "get_rule",
    "list_rules",
    "save_rule",
    "set_enabled",
]


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """A rule as stored."""

    id: int
    name: str
    version: int
    enabled: bool
    rule: Rule
    source: str
    created_at: datetime
    updated_at: datetime

    @property
    def stored(self) -> StoredRule:
        """What the evaluator takes."""
        return StoredRule(self.id, self.version, self.rule)


def canonical(rule: Rule) -> str:
    """The definition as stored and compared: JSON with every field, sorted keys."""
    data = rule.model_dump(mode="json", by_alias=True)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


_COLUMNS = (
    "id, name, version, enabled, definition::text AS definition, source, created_at, updated_at"
)


def _record(r: asyncpg.Record) -> RuleRecord:
    rule = Rule.model_validate_json(r["definition"])
    if rule.enabled != r["enabled"]:
        rule = rule.model_copy(update={"enabled": r["enabled"]})
    return RuleRecord(
        r["id"], r["name"], r["version"], r["enabled"], rule, r["source"],
        r["created_at"], r["updated_at"],
    )  # fmt: skip


async def list_rules(conn: Conn, *, enabled_only: bool = False) -> list[RuleRecord]:
    """Every rule (or only enabled ones), by name."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM rules WHERE enabled OR NOT $1 ORDER BY name",  # noqa: S608
        enabled_only,
    )
    out: list[RuleRecord] = []
    for r in rows:
        try:
            out.append(_record(r))
        except ValidationError as exc:
            # A definition stored by an older version that this one no longer accepts:
            # the other rules go on; this one is named in the log until it is fixed.
            log.error("rule %s (id %d) is not valid and is skipped: %s", r["name"], r["id"], exc)
    return out


async def get_rule(conn: Conn, ref: int | str) -> RuleRecord | None:
    """One rule by id or by name."""
    if isinstance(ref, int):
        r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM rules WHERE id = $1", ref)  # noqa: S608
    else:
        r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM rules WHERE name = $1", ref)  # noqa: S608
    return None if r is None else _record(r)


async def save_rule(conn: Conn, rule: Rule, source: str = "api") -> tuple[RuleRecord, str]:
    """Create the rule or update the one with its name; returns it and what happened:
    ``created``, ``updated`` (a new version) or ``unchanged``."""
    definition = canonical(rule)
    async with conn.transaction():
        old = await conn.fetchrow(
            "SELECT id, definition::text AS definition FROM rules WHERE name = $1 FOR UPDATE",
            rule.name,
        )
        if old is None:
            r = await conn.fetchrow(
                f"INSERT INTO rules (name, definition, enabled, source) "  # noqa: S608
                f"VALUES ($1, $2::jsonb, $3, $4) RETURNING {_COLUMNS}",
                rule.name, definition, rule.enabled, source,
            )  # fmt: skip
            what = "created"
        elif canonical(Rule.model_validate_json(old["definition"])) == definition:
            r = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM rules WHERE id = $1",  # noqa: S608
                old["id"],
            )
            what = "unchanged"
        else:
            r = await conn.fetchrow(
                f"UPDATE rules SET definition = $2::jsonb, enabled = $3, source = $4, "  # noqa: S608
                f"version = version + 1, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
                old["id"], definition, rule.enabled, source,
            )  # fmt: skip
            what = "updated"
    assert r is not None
    return _record(r), what


async def set_enabled(conn: Conn, rule_id: int, enabled: bool) -> RuleRecord:
    """Enable or disable a rule (its definition, hence its version, is unchanged)."""
    r = await conn.fetchrow(
        f"UPDATE rules SET enabled = $2, definition = jsonb_set(definition, '{{enabled}}', "  # noqa: S608
        f"to_jsonb($2::boolean)), updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        rule_id,
        enabled,
    )
    if r is None:
        raise RuleError(f"no rule with id {rule_id}")
    return _record(r)


async def delete_rule(conn: Conn, rule_id: int) -> None:
    """Delete a rule and its alarms' history."""
    status = await conn.execute("DELETE FROM rules WHERE id = $1", rule_id)
    if status.endswith(" 0"):
        raise RuleError(f"no rule with id {rule_id}")
