"""The published OpenAPI document, fuzzed with schemathesis against the real server: no
operation answers with a server error, and answers match what the document says (status
codes, content types, response schemas). A bounded number of examples per operation."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import (
    CheckFunction,
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err

from rules.actions.alarms import acknowledge, apply_event
from rules.actions.service_requests import open_request_for_alarm
from rules.evaluation.events import AlarmEvent
from rules.store import get_rule
from tests.api.opendata_data import minutes_ago, now_minute, numeric_batch, seed, us, write
from tests.support.api import RunningApi, running_api

EXAMPLES = 15  # per operation and generation mode: the whole test stays well under a minute
KEYLESS_EXAMPLES = 3  # per operation, positive cases without a key (401, open data, Open311)
# An endless event stream cannot be fuzzed by reading whole responses; its parameters are
# checked in test_hostile_parameters.py.
SKIP = {("GET", "/api/v1/live")}
CHECKS: dict[GenerationMode, list[CheckFunction]] = {
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ],
    GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance],
}


SERVICE_TYPES: list[dict[str, Any]] = [
    {
        "service_code": "light-out",
        "service_name": "Streetlight out",
        "group": "street",
        "keywords": ["light", "dark"],
        "agency_responsible": "Public works",
        "attributes": [
            {"code": "pole", "datatype": "string", "required": True, "order": 1,
             "description": "Number on the pole"},
            {"code": "kind", "datatype": "singlevaluelist", "order": 2, "description": "What?",
             "values": [{"key": "dark", "name": "Dark"}, {"key": "flicker", "name": "Flickers"}]},
        ],
    },
    {"service_code": "air", "service_name": "Bad air", "type": "batch"},
]  # fmt: skip
RULE: dict[str, Any] = {
    "name": "pm25 high",
    "scope": {"profile": "air_quality", "districts": ["Old Town"]},
    "condition": {"kind": "threshold", "metric": "pm25", "above": 20, "for": "10m"},
    "actions": [],
}


# A request of a known answer: (method, path template, path parameters, query).
Known = tuple[str, str, dict[str, Any], dict[str, Any]]


async def seed_operations(api: RunningApi, device_keys: dict[str, int], key: str) -> list[Known]:
    """Service types, a citizen's request, a queued command, a rule with an acknowledged
    alarm that opened a service request; returns requests that read them (random cases
    rarely name them, so these are checked as they are, before the fuzzing)."""
    c, headers = api.client, {"X-API-Key": key}
    for body in SERVICE_TYPES:
        r = await c.post("/api/v1/service-types", json=body, headers=headers)
        assert r.status_code == 201, r.text
    r = await c.post("/api/v1/rules", json=RULE, headers=headers)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    form = {"api_key": key, "service_code": "light-out", "lat": "48.2", "long": "16.37",
            "attribute[pole]": "17", "email": "a@example.org", "description": "Dark"}  # fmt: skip
    r = await c.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.text
    citizen = r.json()[0]["service_request_id"]
    r = await c.post("/api/v1/devices/aq-1/commands", json={"command": "reboot"}, headers=headers)
    assert r.status_code == 202, r.text
    delivery = r.json()["id"]
    async with api.ctx.pool.acquire() as conn:
        record = await get_rule(conn, rule_id)
        assert record is not None
        event = AlarmEvent(rule_id, record.version, "aq-1", "raised", us(now_minute()),
                           device_key=device_keys["aq-1"], metric="pm25", value=42.0)  # fmt: skip
        alarm = await apply_event(conn, event, record.rule, None)
        assert alarm is not None
        async with conn.transaction():
            opened, _ = await open_request_for_alarm(
                conn, service_code="air", device_key=device_keys["aq-1"], alarm_id=alarm.id,
                description="pm25 above 20 for 10 minutes",
            )  # fmt: skip
        await acknowledge(conn, alarm.id, "test", "seen")
    known: list[Known] = [
        ("GET", "/api/v1/rules", {}, {}),
        ("GET", "/api/v1/rules/{rule_id}", {"rule_id": rule_id}, {}),
        ("POST", "/api/v1/rules/{rule_id}/backtest", {"rule_id": rule_id}, {}),
        ("GET", "/api/v1/alarms", {}, {}),
        ("GET", "/api/v1/alarms/{alarm_id}", {"alarm_id": alarm.id}, {}),
        ("GET", "/api/v1/service-types", {}, {}),
        ("GET", "/api/v1/service-types/{service_code}", {"service_code": "light-out"}, {}),
        ("GET", "/api/v1/service-requests", {}, {}),
        ("GET", "/api/v1/outbox", {}, {}),
        ("GET", "/api/v1/outbox/{delivery_id}", {"delivery_id": delivery}, {}),
        ("GET", "/v1.1", {}, {}),
        ("GET", "/v1.1/{path}", {"path": "Things"}, {"$expand": "Locations,Datastreams"}),
        ("GET", "/v1.1/{path}", {"path": "Datastreams"}, {"$count": "true"}),
        ("GET", "/v1.1/{path}", {"path": "Observations"}, {"$top": "5"}),
    ]
    for request_id in (citizen, opened):
        known.append(
            ("GET", "/api/v1/service-requests/{request_id}", {"request_id": request_id}, {})
        )
    for fmt in ("json", "xml"):
        known += [
            ("GET", "/open311/discovery.{fmt}", {"fmt": fmt}, {}),
            ("GET", "/open311/v2/services.{fmt}", {"fmt": fmt}, {}),
            ("GET", "/open311/v2/services/{service_code}.{fmt}",
             {"service_code": "light-out", "fmt": fmt}, {}),
            ("GET", "/open311/v2/requests.{fmt}", {"fmt": fmt}, {}),
            ("GET", "/open311/v2/requests/{service_request_id}.{fmt}",
             {"service_request_id": citizen, "fmt": fmt}, {}),
        ]  # fmt: skip
    return known


def check_known(spec: dict[str, Any], base: str, key: str, known: list[Known]) -> list[str]:
    """Make each known request once and check its answer as a positive case's."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    for method, path, path_parameters, query in known:
        case = schema[path][method].Case(path_parameters=path_parameters, query=query)
        response = case.call(base_url=base, headers={"X-API-Key": key}, timeout=30)
        label = f"{method} {response.request.url}"
        if response.status_code >= 300:
            failures.append(f"{label}: {response.status_code} {response.text[:500]}")
            continue
        try:
            case.validate_response(response, checks=CHECKS[GenerationMode.POSITIVE])
        except (Exception, FailureGroup) as exc:
            failures.append(f"{label}: {exc}")
    return failures


def fuzz(spec: dict[str, Any], base: str, key: str) -> tuple[int, list[str]]:
    """Run every operation's examples; returns (operations run, failures)."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the document has an invalid operation: {result.err()}")
            continue
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue
        ran += 1
        runs = [(mode.value, mode, checks, {"X-API-Key": key}, EXAMPLES)
                for mode, checks in CHECKS.items()]  # fmt: skip
        positive = GenerationMode.POSITIVE
        runs.append(("keyless", positive, CHECKS[positive], {}, KEYLESS_EXAMPLES))
        for label, mode, checks, headers, examples in runs:
            try:
                _examples(op, mode, checks, base, headers, examples)
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to generate: e.g. negative cases of a parameterless operation
            except (Exception, FailureGroup) as exc:  # every failure is collected and shown
                failures.append(f"{op.method.upper()} {op.path} ({label}): {exc}")
    return ran, failures


def _examples(
    op: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    checks: list[CheckFunction],
    base: str,
    headers: dict[str, str],
    examples: int,
) -> None:
    @hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base, headers=headers, timeout=30)
        case.validate_response(response, checks=checks)

    run()


async def test_openapi_document_fuzzed_without_server_errors(database_url: str) -> None:
    keys, mids = await seed(database_url)
    base = now_minute()
    await write(database_url, numeric_batch(
        [(minutes_ago(base, i), keys["aq-1"], mids["pm25"], float(i)) for i in range(30)]
    ))  # fmt: skip
    async with running_api(database_url, rate_limit_per_s=1e6, rate_limit_burst=1_000_000) as api:
        spec = (await api.client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.1")
        key = await api.key("admin")
        known = await seed_operations(api, keys, key)
        failures = await asyncio.to_thread(check_known, spec, api.base, key, known)
        ran, fuzzed = await asyncio.to_thread(fuzz, spec, api.base, key)
    assert ran >= 20
    assert not failures + fuzzed, "\n\n".join(failures + fuzzed)
