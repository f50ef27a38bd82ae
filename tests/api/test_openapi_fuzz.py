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

from tests.api.opendata_data import minutes_ago, now_minute, numeric_batch, seed, write
from tests.support.api import running_api

EXAMPLES = 15  # per operation and generation mode: the whole test stays well under a minute
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
        for mode, checks in CHECKS.items():
            try:
                _examples(op, mode, checks, base, key)
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to generate: e.g. negative cases of a parameterless operation
            except (Exception, FailureGroup) as exc:  # every failure is collected and shown
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {exc}")
    return ran, failures


def _examples(
    op: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    checks: list[CheckFunction],
    base: str,
    key: str,
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base, headers={"X-API-Key": key}, timeout=30)
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
        ran, failures = await asyncio.to_thread(fuzz, spec, api.base, key)
    assert ran >= 20
    assert not failures, "\n\n".join(failures)
