"""Rule actions end to end: an alarm opens one Open311 service request per device and
service, webhooks reach a real loopback receiver (signed, once), a command reaches the
device's topic on a real broker; clearing notes the request and notifies."""

from __future__ import annotations

import asyncio
import time

import aiomqtt
import asyncpg
import orjson

from device_profiles.topics import TopicScheme
from ingest.devices import DeviceRecord
from ingest.feed import CommitFeed
from rules.actions.dispatch import RuleActions, check_actions
from rules.actions.service_types import ServiceTypeIn, save_service_type
from rules.actions.ssrf import WebhookPolicy
from tests.rules.helpers import rule
from tests.support.broker import Broker
from tests.support.fixtures_data import add_devices
from tests.support.outbox import running_sender
from tests.support.receiver import Receiver
from tests.support.rules import MIN, committer, drained, running_engine, store_rule


async def _service_type(url: str, code: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await save_service_type(
            conn, ServiceTypeIn(service_code=code, service_name="Overflowing bin"), create=True
        )
    finally:
        await conn.close()


def test_actions_are_checked_against_service_types_and_ssrf_policy() -> None:
    r = rule("""
name: bins
scope: {profile: waste_container}
condition: {kind: threshold, metric: fillingLevel, above: 90}
actions:
  - {type: service_request, service_code: bin-full}
  - {type: webhook, url: "http://169.254.169.254/latest"}
""").rule
    problems = check_actions(r, {"streetlight-out"}, WebhookPolicy.of(False))
    assert "unknown service 'bin-full' (service types: streetlight-out)" in problems[0]
    assert problems[1].startswith("actions.1.url:") and len(problems) == 2


async def test_alarm_actions_end_to_end(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    keys = await add_devices(
        database_url,
        [DeviceRecord(id=f"bin-{i}", profile="waste_container", lat=48.1 + i / 100, lon=11.5)
         for i in range(2)],
    )  # fmt: skip
    await _service_type(database_url, "bin-full")
    scheme = TopicScheme(prefix=f"{topic_prefix}/devices")
    async with Receiver() as hook:
        await store_rule(
            database_url,
            f"""
name: bin full
description: Waste container full
scope: {{profile: waste_container}}
condition: {{kind: threshold, metric: fillingLevel, above: 90, clear: 50}}
actions:
  - {{type: service_request, service_code: bin-full}}
  - {{type: webhook, url: "{hook.url()}"}}
  - {{type: command, command: compact, params: {{force: true}}}}
""",
        )
        feed = CommitFeed()
        t0 = time.time_ns() // 1000 - 3600 * 1_000_000
        async with (
            aiomqtt.Client("127.0.0.1", broker.port, identifier=f"dev-{topic_prefix}") as device,
            running_sender(database_url, broker_port=broker.port, scheme=scheme),
            running_engine(database_url, feed, actions=RuleActions()) as engine,
            committer(database_url, feed) as c,
        ):
            await device.subscribe(f"{topic_prefix}/devices/bin-0/commands", qos=1)
            await c.commit([(keys["bin-0"], t0, "fillingLevel", 95.0)])
            await drained(engine)
            async with asyncio.timeout(20):
                command = await anext(device.messages)
            assert orjson.loads(command.payload)["command"] == "compact"
            raised = await hook.wait_answered(1)
            body = orjson.loads(raised[0].body)
            assert body["event"] == "alarm.raised" and body["alarm"]["subject"] == "bin-0"
            assert raised[0].headers["x-citygate-signature"].startswith("t=")
            # Clear, then raise again: a second alarm, but the request opened by the
            # first is still open, so no second request for the same bin and service.
            await c.commit([(keys["bin-0"], t0 + 5 * MIN, "fillingLevel", 20.0)])
            await c.commit([(keys["bin-0"], t0 + 10 * MIN, "fillingLevel", 99.0)])
            await drained(engine)
            answered = await hook.wait_answered(3)
            assert [orjson.loads(r.body)["event"] for r in answered] == [
                "alarm.raised", "alarm.cleared", "alarm.raised",
            ]  # fmt: skip
    conn = await asyncpg.connect(database_url)
    try:
        requests = await conn.fetch(
            "SELECT id, status, device_key, alarm_id, description, status_notes, "
            "ST_Y(location) AS lat FROM service_requests"
        )
        alarms = await conn.fetch("SELECT id, active, details FROM alarms ORDER BY id")
    finally:
        await conn.close()
    assert len(requests) == 1
    req = requests[0]
    assert req["status"] == "open" and req["device_key"] == keys["bin-0"]
    assert req["alarm_id"] == alarms[0]["id"] and abs(req["lat"] - 48.1) < 1e-9
    assert req["description"].startswith("Waste container full (fillingLevel 95)")
    assert "alarm cleared" in (req["status_notes"] or "")
    assert [a["active"] for a in alarms] == [False, True]
    second = orjson.loads(alarms[1]["details"])
    assert second["actions"]["service_request"]["opened"] is False
