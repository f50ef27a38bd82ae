"""Operator endpoints for rules: list, read, create, replace, enable/disable, delete,
and back-test (a saved rule or a draft) over stored history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, HTTPException, Path, Query, Response
from pydantic import BaseModel, ValidationError

from rules.actions.dispatch import check_actions
from rules.actions.service_requests import service_codes
from rules.backtest import backtest
from rules.definition.check import check_rule
from rules.definition.model import Rule
from rules.errors import RuleError
from rules.store import RuleRecord, delete_rule, get_rule, list_rules, save_rule, set_enabled

from ..auth import Principal
from ..deps import ConnDep, Ctx, Operator, Viewer
from ..errors import errors

router = APIRouter(prefix="/api/v1/rules", tags=["operator: rules"], responses=errors(401, 429))

_NO_RULE = (404, "No rule with this id")
_NAME_TAKEN = (409, "A rule with this name exists")
# A back-test runs one at a time, and within a time limit.
_BACKTEST = errors(
    (429, "A back-test is running (see Retry-After), or too many requests without a key"),
    (503, "The back-test took too long; try a shorter range"),
)

MAX_BACKTEST_ALARMS = 10_000
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="rule id")]


class RulePublic(BaseModel):
    """A stored rule."""

    id: int
    name: str
    version: int
    enabled: bool
    source: str
    created_at: datetime
    updated_at: datetime
    active_alarms: int
    definition: dict[str, Any]


class EnabledBody(BaseModel):
    """Turn a rule on or off."""

    enabled: bool


class BacktestAlarmPublic(BaseModel):
    """An alarm a back-test found."""

    subject: str
    raised_at: datetime
    cleared_at: datetime | None
    count: int
    metric: str | None
    value: float | None


class BacktestPublic(BaseModel):
    """A back-test's result."""

    rule: str
    start: datetime
    end: datetime
    readings: int
    devices: int
    seconds: float
    truncated: bool
    alarms: list[BacktestAlarmPublic]


def _public(r: RuleRecord, active: int) -> RulePublic:
    return RulePublic(
        id=r.id, name=r.name, version=r.version, enabled=r.enabled, source=r.source,
        created_at=r.created_at, updated_at=r.updated_at, active_alarms=active,
        definition=r.rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        | {"name": r.name},
    )  # fmt: skip


async def _active(conn: ConnDep, rule_id: int | None = None) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT rule_id, count(*) AS n FROM alarms WHERE active AND ($1::int IS NULL "
        "OR rule_id = $1) GROUP BY 1",
        rule_id,
    )
    return {int(r["rule_id"]): int(r["n"]) for r in rows}


async def _parse_checked(ctx: Ctx, conn: ConnDep, body: dict[str, Any]) -> Rule:
    """A rule to save: also its actions checked (service codes, webhook targets)."""
    rule = _parse(ctx, body)
    problems = check_actions(rule, await service_codes(conn), ctx.webhook_policy)
    if problems:
        raise HTTPException(422, "; ".join(problems))
    return rule


def _parse(ctx: Ctx, body: dict[str, Any]) -> Rule:
    try:
        rule = Rule.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "rule"
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        raise HTTPException(
            422, f"{where}: {err['msg'].removeprefix('Value error, ')}{more}"
        ) from None
    problems = check_rule(rule, ctx.profiles)
    if problems:
        raise HTTPException(422, "; ".join(problems))
    return rule


def _in_scope(principal: Principal, rule: Rule) -> bool:
    """A district-limited key sees and manages only rules confined to its districts."""
    if principal.districts is None:
        return True
    districts = rule.scope.districts
    return districts is not None and set(districts) <= principal.districts


def _check_scope(principal: Principal, rule: Rule) -> None:
    """Refuse (403) a rule outside a district-limited key's districts."""
    if not _in_scope(principal, rule):
        assert principal.districts is not None
        raise HTTPException(
            403,
            f"this API key is limited to districts {sorted(principal.districts)}: the rule's "
            "scope must name districts among them",
        )


async def _record(conn: ConnDep, rule_id: int) -> RuleRecord:
    record = await get_rule(conn, rule_id)
    if record is None:
        raise HTTPException(404, f"no rule with id {rule_id}")
    return record


@router.get("")
async def rules(conn: ConnDep, principal: Viewer) -> list[RulePublic]:
    """Every rule with its number of active alarms (a district-limited key: the rules
    confined to its districts)."""
    active = await _active(conn)
    found = await list_rules(conn)
    return [_public(r, active.get(r.id, 0)) for r in found if _in_scope(principal, r.rule)]


@router.get("/{rule_id}", responses=errors(403, _NO_RULE))
async def rule(rule_id: RuleId, conn: ConnDep, principal: Viewer) -> RulePublic:
    """One rule."""
    record = await _record(conn, rule_id)
    _check_scope(principal, record.rule)
    return _public(record, (await _active(conn, rule_id)).get(rule_id, 0))


@router.post("", status_code=201, responses=errors(400, 403, _NAME_TAKEN))
async def create_rule(
    ctx: Ctx, conn: ConnDep, principal: Operator, body: Annotated[dict[str, Any], Body()]
) -> RulePublic:
    """Create a rule (the body is a rule definition, as in a rule file)."""
    new = await _parse_checked(ctx, conn, body)
    _check_scope(principal, new)
    taken = HTTPException(409, f"a rule named {new.name!r} exists; PUT /api/v1/rules/{{id}}")
    if await get_rule(conn, new.name) is not None:
        raise taken
    try:
        async with conn.transaction():
            record, what = await save_rule(conn, new, source="api")
            if what != "created":  # created meanwhile by another request
                raise taken
    except asyncpg.UniqueViolationError:
        raise taken from None
    return _public(record, 0)


@router.put("/{rule_id}", responses=errors(400, 403, _NO_RULE, _NAME_TAKEN))
async def replace_rule(
    rule_id: RuleId,
    ctx: Ctx,
    conn: ConnDep,
    principal: Operator,
    body: Annotated[dict[str, Any], Body()],
) -> RulePublic:
    """Replace a rule's definition; a changed definition starts a new version (its state is
    rebuilt from history)."""
    old = await _record(conn, rule_id)
    new = await _parse_checked(ctx, conn, body)
    _check_scope(principal, old.rule)
    _check_scope(principal, new)
    try:
        async with conn.transaction():
            if new.name != old.name:
                await conn.execute("UPDATE rules SET name = $2 WHERE id = $1", rule_id, new.name)
            record, _ = await save_rule(conn, new, source="api")
    except asyncpg.UniqueViolationError:
        raise HTTPException(409, f"a rule named {new.name!r} exists already") from None
    return _public(record, (await _active(conn, rule_id)).get(rule_id, 0))


@router.patch("/{rule_id}", responses=errors(400, 403, _NO_RULE))
async def enable_rule(
    rule_id: RuleId, body: EnabledBody, conn: ConnDep, principal: Operator
) -> RulePublic:
    """Enable or disable a rule."""
    _check_scope(principal, (await _record(conn, rule_id)).rule)
    try:
        record = await set_enabled(conn, rule_id, body.enabled)
    except RuleError as exc:
        raise HTTPException(404, str(exc)) from None
    return _public(record, (await _active(conn, rule_id)).get(rule_id, 0))


@router.delete(
    "/{rule_id}", status_code=204, response_class=Response, responses=errors(403, _NO_RULE)
)
async def remove_rule(rule_id: RuleId, conn: ConnDep, principal: Operator) -> Response:
    """Delete a rule, its alarms and their history."""
    _check_scope(principal, (await _record(conn, rule_id)).rule)
    await delete_rule(conn, rule_id)
    return Response(status_code=204)


def _range(ctx: Ctx, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    end = end or now
    start = start or end - timedelta(days=1)
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "from and to need a time zone (e.g. 2026-11-01T00:00:00Z)")
    if not start < end:
        raise HTTPException(422, "'from' must be before 'to'")
    if start.year < 2000 or end.year > 2100:
        raise HTTPException(422, "from and to must lie between the years 2000 and 2100")
    limit = ctx.config.max_range_days
    if end - start > timedelta(days=limit):
        raise HTTPException(422, f"a back-test covers at most {limit} days")
    return start, end


_BACKTESTS = asyncio.Semaphore(1)
BACKTEST_TIMEOUT_S = 60


async def _run(
    ctx: Ctx, conn: ConnDep, rule: Rule, start: datetime, end: datetime
) -> BacktestPublic:
    if _BACKTESTS.locked():
        raise HTTPException(
            429, "a back-test is running; try again when it is done", headers={"Retry-After": "5"}
        )
    async with _BACKTESTS, conn.transaction(readonly=True, isolation="repeatable_read"):
        await conn.execute(f"SET LOCAL statement_timeout = {BACKTEST_TIMEOUT_S * 1000}")
        try:
            async with asyncio.timeout(BACKTEST_TIMEOUT_S), ctx.pool.acquire() as second:
                result = await backtest(
                    conn, rule, start, end, ctx.profiles, ctx.metrics.by_name, more=[second]
                )
        except (asyncpg.QueryCanceledError, TimeoutError):
            raise HTTPException(
                503, f"the back-test took longer than {BACKTEST_TIMEOUT_S} s; try a shorter range"
            ) from None
    shown = result.alarms[:MAX_BACKTEST_ALARMS]
    return BacktestPublic(
        rule=result.rule, start=start, end=end, readings=result.readings,
        devices=result.devices, seconds=round(result.seconds, 3),
        truncated=len(result.alarms) > len(shown),
        alarms=[BacktestAlarmPublic(
            subject=a.subject, raised_at=a.raised_at, cleared_at=a.cleared_at, count=a.count,
            metric=a.metric, value=a.value) for a in shown],
    )  # fmt: skip


FromQ = Annotated[datetime | None, Query(alias="from", description="start (ISO 8601)")]
ToQ = Annotated[datetime | None, Query(alias="to", description="end (ISO 8601)")]


@router.post("/{rule_id}/backtest", responses={**errors(403, _NO_RULE), **_BACKTEST})
async def backtest_rule(
    rule_id: RuleId,
    ctx: Ctx,
    conn: ConnDep,
    principal: Viewer,
    start: FromQ = None,
    end: ToQ = None,
) -> BacktestPublic:
    """The alarms a saved rule would have raised over [from, to); nothing is written."""
    record = await _record(conn, rule_id)
    _check_scope(principal, record.rule)
    a, b = _range(ctx, start, end)
    return await _run(ctx, conn, record.rule, a, b)


@router.post("/backtest", responses={**errors(400, 403), **_BACKTEST})
async def backtest_draft(
    ctx: Ctx,
    conn: ConnDep,
    principal: Viewer,
    body: Annotated[dict[str, Any], Body()],
    start: FromQ = None,
    end: ToQ = None,
) -> BacktestPublic:
    """The alarms a draft rule (the body) would have raised over [from, to)."""
    rule = _parse(ctx, body)
    _check_scope(principal, rule)
    a, b = _range(ctx, start, end)
    return await _run(ctx, conn, rule, a, b)
