"""Operator endpoints: service types CRUD, service requests (close resolves the alarm),
the outbox (failed deliveries visible, retry), and device commands end to end over MQTT."""

from __future__ import annotations

import asyncio
import dataclasses

import aiomqtt
import asyncpg
import orjson

from rules.actions.ssrf import WebhookPolicy
from tests.api.open311.conftest import City
from tests.support.broker import Broker
from tests.support.gateway import scheme_for
from tests.support.outbox import FAST, put, running_sender, wait_row


async def test_service_types_crud_with_roles_and_scope(city: City) -> None:
    c, api = city.api.client, city.api
    op = await api.headers("operator")
    body: dict[str, object] = {"service_code": "pothole", "service_name": "Pothole"}
    assert (await c.post("/api/v1/service-types", json=body)).status_code == 401
    r = await c.post("/api/v1/service-types", json=body, headers=await api.headers("viewer"))
    assert r.status_code == 403
    r = await c.post(
        "/api/v1/service-types", json=body, headers=await api.headers("operator", ["Centre"])
    )
    assert r.status_code == 403 and "city-wide" in r.json()["detail"]
    r = await c.post("/api/v1/service-types", json=body, headers=op)
    assert r.status_code == 201 and r.json()["metadata"] is False
    assert (await c.post("/api/v1/service-types", json=body, headers=op)).status_code == 409

    bad = body | {"service_code": "x", "attributes": [
        {"code": "a", "datatype": "singlevaluelist", "order": 1},
    ]}  # fmt: skip
    r = await c.post("/api/v1/service-types", json=bad, headers=op)
    assert r.status_code == 422 and "needs values" in r.json()["detail"]
    dotted = body | {"service_code": "has.dot"}
    assert (await c.post("/api/v1/service-types", json=dotted, headers=op)).status_code == 422

    with_attr = body | {
        "attributes": [{"code": "depth", "datatype": "number", "order": 1, "required": True}]
    }
    r = await c.put("/api/v1/service-types/pothole", json=with_attr, headers=op)
    assert r.status_code == 200 and r.json()["metadata"] is True
    definition = (await c.get("/open311/v2/services/pothole.json")).json()
    assert [a["code"] for a in definition["attributes"]] == ["depth"]

    viewer = await api.headers("viewer")
    listed = (await c.get("/api/v1/service-types", headers=viewer)).json()
    assert "pothole" in {t["service_code"] for t in listed}
    r = await c.delete("/api/v1/service-types/waste-full", headers=op)
    assert r.status_code == 409 and "service requests" in r.json()["detail"]
    assert (await c.delete("/api/v1/service-types/pothole", headers=op)).status_code == 204
    assert (await c.get("/api/v1/service-types/pothole", headers=viewer)).status_code == 404


async def test_operators_close_a_rule_request_and_the_alarm_shows_it(city: City) -> None:
    c, api = city.api.client, city.api
    rid = city.rule_request_id
    centre = await api.headers("viewer", ["Centre"])
    noord = await api.headers("operator", ["Noord"])
    listed = (await c.get("/api/v1/service-requests?status=open", headers=centre)).json()
    assert [r["id"] for r in listed] == [rid]
    assert listed[0]["device_id"] == "bin-1" and listed[0]["alarm_id"] == city.alarm_id
    assert (await c.get("/api/v1/service-requests", headers=noord)).json() == []
    assert (await c.get(f"/api/v1/service-requests/{rid}", headers=noord)).status_code == 403
    r = await c.patch(f"/api/v1/service-requests/{rid}", json={"status": "closed"}, headers=noord)
    assert r.status_code == 403
    r = await c.patch(f"/api/v1/service-requests/{rid}", json={"status": "closed"}, headers=centre)
    assert r.status_code == 403  # a viewer cannot update
    r = await c.patch(f"/api/v1/service-requests/{rid}", json={"status": "done"}, headers=noord)
    assert r.status_code == 422

    op = await api.headers("operator", ["Centre"])
    r = await c.patch(
        f"/api/v1/service-requests/{rid}",
        json={"status": "closed", "status_notes": "Emptied", "expected_datetime":
              "2030-01-01T10:00:00Z", "agency_responsible": "Crew 4"},
        headers=op,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed" and closed["closed_by"].startswith("key:")
    assert closed["status_notes"] == "Emptied" and closed["agency_responsible"] == "Crew 4"
    public = (await c.get(f"/open311/v2/requests/{rid}.json")).json()[0]
    assert public["status"] == "closed" and public["expected_datetime"] == "2030-01-01T10:00:00Z"
    assert public["updated_datetime"] >= public["requested_datetime"]

    conn = await asyncpg.connect(city.database_url)
    try:
        details = orjson.loads(
            await conn.fetchval("SELECT details::text FROM alarms WHERE id = $1", city.alarm_id)
        )
        event = await conn.fetchrow(
            "SELECT kind, actor FROM alarm_events WHERE alarm_id = $1", city.alarm_id
        )
    finally:
        await conn.close()
    action = details["actions"]["service_request"]
    assert action["id"] == rid and action["status"] == "closed" and action["notes"] == "Emptied"
    assert event is not None and event["kind"] == "request_closed"
    assert event["actor"] == closed["closed_by"]


async def test_failed_deliveries_are_listed_and_retried(city: City) -> None:
    c, api = city.api.client, city.api
    op = await api.headers("operator")
    delivery = await put(city.database_url, "webhook", "http://127.0.0.1:9/hook", {"x": 1})
    assert delivery is not None
    config = dataclasses.replace(FAST, policy=WebhookPolicy())  # loopback refused
    async with running_sender(city.database_url, config):
        await wait_row(city.database_url, delivery, "failed_at IS NOT NULL")
    assert (await c.get("/api/v1/outbox", headers=await api.headers("viewer"))).status_code == 403
    scoped = await api.headers("operator", ["Centre"])
    assert (await c.get("/api/v1/outbox", headers=scoped)).status_code == 403
    failed = (await c.get("/api/v1/outbox?state=failed", headers=op)).json()
    assert [d["id"] for d in failed] == [delivery]
    assert failed[0]["payload"] == {"x": 1} and "loopback" in failed[0]["last_error"]
    assert (await c.get("/api/v1/outbox?state=pending", headers=op)).json() == []

    r = await c.post(f"/api/v1/outbox/{delivery}/retry", headers=op)
    assert r.status_code == 200
    assert r.json()["state"] == "pending" and r.json()["attempts"] == 0
    assert (await c.post("/api/v1/outbox/999999/retry", headers=op)).status_code == 404
    conn = await asyncpg.connect(city.database_url)
    try:
        await conn.execute("UPDATE outbox SET delivered_at = now() WHERE id = $1", delivery)
    finally:
        await conn.close()
    assert (await c.post(f"/api/v1/outbox/{delivery}/retry", headers=op)).status_code == 409


async def test_device_commands_are_checked_queued_and_reach_the_device(
    city: City, broker: Broker, topic_prefix: str
) -> None:
    c, api = city.api.client, city.api
    op = await api.headers("operator")
    url = "/api/v1/devices/lamp-1/commands"
    cmd = {"command": "dim", "params": {"level": 30}}
    assert (await c.post(url, json=cmd, headers=await api.headers("viewer"))).status_code == 403
    r = await c.post(url, json=cmd, headers=await api.headers("operator", ["Centre"]))
    assert r.status_code == 403  # lamp-1 is in Noord
    r = await c.post("/api/v1/devices/nope/commands", json=cmd, headers=op)
    assert r.status_code == 404
    r = await c.post(url, json={"command": "dim now"}, headers=op)
    assert r.status_code == 422
    r = await c.post(url, json={"command": "dim", "params": {"x": "y" * 5000}}, headers=op)
    assert r.status_code == 422 and "exceeds" in r.json()["detail"]

    first = await c.post(url, json=cmd, headers=op | {"Idempotency-Key": "k1"})
    assert first.status_code == 202
    queued = first.json()["id"]
    again = await c.post(url, json=cmd, headers=op | {"Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json()["id"] == queued
    shown = (await c.get(first.json()["status_url"], headers=op)).json()
    assert shown["kind"] == "command" and shown["target"] == "lamp-1"
    assert shown["payload"]["command"] == "dim" and shown["state"] == "pending"

    scheme = scheme_for(topic_prefix)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{topic_prefix}-lamp") as dev:
        await dev.subscribe(scheme.command_topic("lamp-1"), qos=1)
        async with running_sender(city.database_url, broker_port=broker.port, scheme=scheme):
            async with asyncio.timeout(30):
                message = await anext(dev.messages)
            await wait_row(city.database_url, queued, "delivered_at IS NOT NULL")
    assert orjson.loads(message.payload) == {
        "command": "dim",
        "params": {"level": 30},
        "id": str(queued),
    }
    assert (await c.get(f"/api/v1/outbox/{queued}", headers=op)).json()["state"] == "delivered"

    conn = await asyncpg.connect(city.database_url)
    try:
        await conn.execute("UPDATE devices SET enabled = false WHERE id = 'lamp-1'")
    finally:
        await conn.close()
    r = await c.post(url, json=cmd, headers=op)
    assert r.status_code == 409 and "disabled" in r.json()["detail"]
