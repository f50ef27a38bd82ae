"""Operator endpoints for rules and alarms, over a real server and database."""

from __future__ import annotations

import time
from typing import Any

from ingest.devices import DeviceRecord
from ingest.feed import CommitFeed
from tests.support.api import running_api
from tests.support.fixtures_data import add_devices
from tests.support.rules import MIN, committer, drained, running_engine

RULE: dict[str, Any] = {
    "name": "pm25 high",
    "scope": {"profile": "air_quality", "districts": ["North"]},
    "condition": {"kind": "threshold", "metric": "pm25", "above": 50, "for": "10m"},
    "actions": [],
}


async def test_rules_crud_validation_and_roles(database_url: str) -> None:
    async with running_api(database_url) as api:
        c = api.client
        op = await api.headers("operator")
        viewer = await api.headers("viewer")
        # A viewer may read but not write; no key: 401.
        assert (await c.post("/api/v1/rules", json=RULE, headers=viewer)).status_code == 403
        assert (await c.get("/api/v1/rules")).status_code == 401
        r = await c.post("/api/v1/rules", json=RULE, headers=op)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["version"] == 1 and created["definition"]["condition"]["for"] == "10m"
        assert (await c.post("/api/v1/rules", json=RULE, headers=op)).status_code == 409
        # Readable validation errors.
        bad = [
            ({**RULE, "name": "x1", "condition": {**RULE["condition"], "metric": "pm99"}},
             "unknown metric 'pm99' for profile 'air_quality'"),
            ({**RULE, "name": "x2", "condition": {**RULE["condition"], "for": "ten minutes"}},
             "bad duration"),
            ({**RULE, "name": "x3", "scope": {}}, "scope is empty"),
            ({**RULE, "name": "x4", "condition": {"kind": "state", "metric": "pm25", "in": ["x"]}},
             "needs a categorical metric"),
        ]  # fmt: skip
        for body, message in bad:
            r = await c.post("/api/v1/rules", json=body, headers=op)
            assert r.status_code == 422 and message in r.json()["detail"], r.text
        # Replace: a new version; disable; list; delete.
        changed = {**RULE, "condition": {**RULE["condition"], "above": 60}}
        r = await c.put(f"/api/v1/rules/{created['id']}", json=changed, headers=op)
        assert r.status_code == 200 and r.json()["version"] == 2
        r = await c.patch(f"/api/v1/rules/{created['id']}", json={"enabled": False}, headers=op)
        assert r.json()["enabled"] is False
        listed = (await c.get("/api/v1/rules", headers=viewer)).json()
        assert [x["name"] for x in listed] == ["pm25 high"]
        assert (await c.delete(f"/api/v1/rules/{created['id']}", headers=op)).status_code == 204
        assert (await c.get(f"/api/v1/rules/{created['id']}", headers=viewer)).status_code == 404


async def test_district_limited_key_manages_only_its_districts(database_url: str) -> None:
    async with running_api(database_url) as api:
        north = await api.headers("operator", ["North"])
        r = await api.client.post("/api/v1/rules", json=RULE, headers=north)
        assert r.status_code == 201
        south = {
            **RULE,
            "name": "south",
            "scope": {"profile": "air_quality", "districts": ["South"]},
        }
        r = await api.client.post("/api/v1/rules", json=south, headers=north)
        assert r.status_code == 403 and "North" in r.json()["detail"]
        # Rules outside the key's districts are neither listed, nor readable, nor
        # back-tested with it.
        admin = await api.headers("admin")
        other = (await api.client.post("/api/v1/rules", json=south, headers=admin)).json()
        listed = (await api.client.get("/api/v1/rules", headers=north)).json()
        assert [r["name"] for r in listed] == ["pm25 high"]
        assert (
            await api.client.get(f"/api/v1/rules/{other['id']}", headers=north)
        ).status_code == 403
        r = await api.client.post(f"/api/v1/rules/{other['id']}/backtest", headers=north)
        assert r.status_code == 403
        r = await api.client.post("/api/v1/rules/backtest", json=south, headers=north)
        assert r.status_code == 403
        assert (await api.client.get("/api/v1/rules/99999999999", headers=north)).status_code == 422
        everywhere = {**RULE, "name": "all", "scope": {"profile": "air_quality"}}
        assert (
            await api.client.post("/api/v1/rules", json=everywhere, headers=north)
        ).status_code == 403


async def test_alarms_list_acknowledge_clear_and_backtest(database_url: str) -> None:
    keys = await add_devices(
        database_url,
        [DeviceRecord(id="aq-n", profile="air_quality", district="North"),
         DeviceRecord(id="aq-s", profile="air_quality", district="South")],
    )  # fmt: skip
    feed = CommitFeed()
    t0 = time.time_ns() // 1000 - 2 * 3600 * 1_000_000
    async with running_api(database_url) as api:
        c = api.client
        op = await api.headers("operator")
        rule: dict[str, Any] = {**RULE, "scope": {"profile": "air_quality"}}
        rule_id = (await c.post("/api/v1/rules", json=rule, headers=op)).json()["id"]
        async with running_engine(database_url, feed) as engine, committer(database_url, feed) as w:
            for i in range(3):
                await w.commit([(keys["aq-n"], t0 + i * 5 * MIN, "pm25", 80.0),
                                (keys["aq-s"], t0 + i * 5 * MIN, "pm25", 90.0)])  # fmt: skip
            await drained(engine)
        page = (await c.get("/api/v1/alarms?active=true", headers=op)).json()
        assert page["total"] == 2
        assert {a["device_id"] for a in page["alarms"]} == {"aq-n", "aq-s"}
        north_only = await api.headers("viewer", ["North"])
        scoped = (await c.get("/api/v1/alarms", headers=north_only)).json()
        assert [a["device_id"] for a in scoped["alarms"]] == ["aq-n"]
        south_alarm = next(a for a in page["alarms"] if a["device_id"] == "aq-s")
        r = await c.get(f"/api/v1/alarms/{south_alarm['id']}", headers=north_only)
        assert r.status_code == 403
        aid = south_alarm["id"]
        r = await c.post(f"/api/v1/alarms/{aid}/acknowledge", json={"note": "on it"}, headers=op)
        assert r.json()["acknowledged"] is True and r.json()["acknowledged_by"].startswith("key:")
        r = await c.post(f"/api/v1/alarms/{aid}/clear", json={"note": "fixed"}, headers=op)
        assert r.json()["active"] is False
        detail = (await c.get(f"/api/v1/alarms/{aid}", headers=op)).json()
        assert [e["kind"] for e in detail["events"]] == ["raised", "acknowledged", "cleared"]
        assert detail["events"][2]["details"]["note"] == "fixed"
        r = await c.get("/api/v1/alarms?limit=100000", headers=op)
        assert r.status_code == 422 and "at most" in r.json()["detail"]
        assert (await c.get("/api/v1/alarms/999999", headers=op)).status_code == 404
        # Back-test the saved rule, and a draft with a higher threshold, over that data.
        frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1e6 - 60))
        r = await c.post(f"/api/v1/rules/{rule_id}/backtest?from={frm}", headers=op)
        assert r.status_code == 200, r.text
        assert sorted(a["subject"] for a in r.json()["alarms"]) == ["aq-n", "aq-s"]
        draft = {**rule, "name": "draft", "condition": {**rule["condition"], "above": 85}}
        r = await c.post(f"/api/v1/rules/backtest?from={frm}", json=draft, headers=op)
        assert [a["subject"] for a in r.json()["alarms"]] == ["aq-s"]
        r = await c.post("/api/v1/rules/backtest?from=2020-01-01T00:00:00Z", json=draft, headers=op)
        assert r.status_code == 422 and "at most" in r.json()["detail"]
