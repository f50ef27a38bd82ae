"""Operator side: devices created, changed, disabled, enabled, removed and imported, with
roles and district scope checked; the quarantine browsed with filters and paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from tests.api.opendata_data import seed
from tests.support.api import running_api

NEW = {"id": "wx-1", "profile": "weather_station", "name": "Roof of the town hall",
       "lat": 48.21, "lon": 16.37, "district": "Old Town", "tags": ["roof"],
       "attributes": {"dev_eui": "a840410000000001"}}  # fmt: skip


async def test_device_lifecycle_with_roles(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        c = api.client
        op = await api.headers("operator")
        r = await c.post("/api/v1/devices", json=NEW)
        assert r.status_code == 401
        r = await c.post("/api/v1/devices", json=NEW, headers=await api.headers("viewer"))
        assert r.status_code == 403 and "operator" in r.json()["detail"]

        r = await c.post("/api/v1/devices", json=NEW, headers=op)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["attributes"] == {"dev_eui": "a840410000000001"} and made["enabled"]
        assert (made["lon"], made["lat"]) == (16.37, 48.21)
        assert (await c.get("/api/v1/devices/wx-1")).json()["name"] == NEW["name"]
        r = await c.post("/api/v1/devices", json=NEW, headers=op)
        assert r.status_code == 409 and "PATCH" in r.json()["detail"]
        r = await c.post("/api/v1/devices", json={**NEW, "id": "wx-2", "profile": "toaster"},
                         headers=op)  # fmt: skip
        assert r.status_code == 422 and "weather_station" in r.json()["detail"]
        r = await c.post("/api/v1/devices", json={**NEW, "id": "bad id!"}, headers=op)
        assert r.status_code == 422 and "id" in r.json()["detail"]

        r = await c.patch("/api/v1/devices/wx-1", json={"district": "Harbour", "lat": 48.19,
                                                         "lon": 16.4}, headers=op)  # fmt: skip
        assert r.status_code == 200, r.text
        changed = r.json()
        assert (changed["district"], changed["lon"]) == ("Harbour", 16.4)
        assert changed["name"] == NEW["name"] and changed["tags"] == ["roof"]  # kept
        r = await c.patch("/api/v1/devices/wx-1", json={"lat": 1.0}, headers=op)
        assert r.status_code == 422 and "together" in r.json()["detail"]
        r = await c.patch("/api/v1/devices/wx-1", json={"profile": None}, headers=op)
        assert r.status_code == 422 and "null" in r.json()["detail"]
        r = await c.patch("/api/v1/devices/wx-1", json={"colour": "red"}, headers=op)
        assert r.status_code == 422
        r = await c.patch("/api/v1/devices/nope", json={"name": "x"}, headers=op)
        assert r.status_code == 404

        r = await c.post("/api/v1/devices/wx-1/disable", headers=op)
        assert r.status_code == 200 and r.json()["enabled"] is False
        assert (await c.get("/api/v1/devices/wx-1")).json()["enabled"] is False
        r = await c.post("/api/v1/devices/wx-1/enable", headers=op)
        assert r.json()["enabled"] is True
        viewer = await api.headers("viewer")
        r = await c.get("/api/v1/devices/wx-1/registration", headers=viewer)
        assert r.status_code == 200 and r.json()["attributes"]["dev_eui"] == "a840410000000001"

        r = await c.delete("/api/v1/devices/wx-1", headers=op)
        assert r.status_code == 204
        assert (await c.get("/api/v1/devices/wx-1")).status_code == 404
        assert (await c.delete("/api/v1/devices/wx-1", headers=op)).status_code == 404


async def test_district_scope_is_checked_on_every_object(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url, key_cache_s=0) as api:
        c = api.client
        old_town = await api.headers("operator", ["Old Town"])
        # Its own district: fine. Another district, before or after the change: refused.
        r = await c.patch("/api/v1/devices/aq-1", json={"name": "mine"}, headers=old_town)
        assert r.status_code == 200
        r = await c.patch("/api/v1/devices/aq-3", json={"name": "theirs"}, headers=old_town)
        assert r.status_code == 403 and "Harbour" in r.json()["detail"]
        r = await c.patch("/api/v1/devices/aq-1", json={"district": "Harbour"}, headers=old_town)
        assert r.status_code == 403
        for action in ("disable", "enable"):
            r = await c.post(f"/api/v1/devices/noise-1/{action}", headers=old_town)
            assert r.status_code == 403
        assert (await c.delete("/api/v1/devices/aq-3", headers=old_town)).status_code == 403
        r = await c.post("/api/v1/devices", json={**NEW, "district": "Harbour"}, headers=old_town)
        assert r.status_code == 403
        r = await c.get("/api/v1/devices/aq-3/registration", headers=old_town)
        assert r.status_code == 403
        # Nothing changed on the refused devices.
        assert (await c.get("/api/v1/devices/aq-3")).json()["name"] == ""
        assert (await c.get("/api/v1/devices/aq-1")).json()["district"] == "Old Town"


async def test_bulk_import_json_and_csv(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        c = api.client
        op = await api.headers("operator")
        rows = [
            {"id": "bin-1", "profile": "waste_container", "district": "Market", "lat": 48.2,
             "lon": 16.35},
            {"id": "aq-1", "profile": "air_quality", "name": "renamed by import",
             "district": "Old Town", "lat": 48.2082, "lon": 16.3738},
        ]  # fmt: skip
        r = await c.post("/api/v1/devices/import", json=rows, headers=op)
        assert r.status_code == 200, r.text
        assert r.json() == {"imported": 2, "created": 1, "updated": 1}
        assert (await c.get("/api/v1/devices/aq-1")).json()["name"] == "renamed by import"

        csv_text = (
            "id,profile,name,lat,lon,district,tags\r\n"
            "bin-2,waste_container,Bin 2,48.201,16.351,Market,street;green\r\n"
            "bin-3,waste_container,Bin 3,,,Market,\r\n"
        )
        r = await c.post("/api/v1/devices/import", content=csv_text,
                         headers={**op, "Content-Type": "text/csv"})  # fmt: skip
        assert r.json() == {"imported": 2, "created": 2, "updated": 0}
        assert (await c.get("/api/v1/devices/bin-2")).json()["tags"] == ["street", "green"]

        # Bad rows: nothing is imported, and the answer names each bad row.
        bad = "id,profile,lat\r\nbin-4,waste_container,95\r\nbin 5,waste_container,1\r\n"
        r = await c.post("/api/v1/devices/import", content=bad,
                         headers={**op, "Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert "import:2: lat" in detail and "import:3: id" in detail
        assert (await c.get("/api/v1/devices/bin-4")).status_code == 404
        r = await c.post("/api/v1/devices/import", json=[{"id": "x-1", "profile": "nope"}],
                         headers=op)  # fmt: skip
        assert r.status_code == 422 and "nope" in r.json()["detail"]
        r = await c.post("/api/v1/devices/import", content=b"{not json", headers=op)
        assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]
        # A district-scoped key cannot import into (or over) another district.
        scoped = await api.headers("operator", ["Market"])
        r = await c.post("/api/v1/devices/import", json=rows, headers=scoped)
        assert r.status_code == 403
        assert (await c.get("/api/v1/devices/aq-1")).json()["name"] == "renamed by import"


async def test_quarantine_browsing(database_url: str) -> None:
    await seed(database_url)
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO quarantine (received_at, topic, device_id, reason_code, reason, "
            "payload, payload_size) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (t0 + timedelta(minutes=i), f"devices/{dev}/telemetry", dev, code,
                 f"reason {i}", payload, len(payload))
                for i, (dev, code, payload) in enumerate(
                    [("aq-1", "out_of_range", b'{"pm25": 5000}')] * 5
                    + [("aq-3", "bad_json", b"\xff\xfe")] * 3
                    + [("ghost", "unknown_device", b"{}")] * 2
                )
            ],
        )  # fmt: skip
    finally:
        await conn.close()
    async with running_api(database_url) as api:
        c = api.client
        viewer = await api.headers("viewer")
        assert (await c.get("/api/v1/quarantine")).status_code == 401
        r = await c.get("/api/v1/quarantine", params={"limit": 4}, headers=viewer)
        assert r.status_code == 200, r.text
        page = r.json()
        seen = [m["id"] for m in page["items"]]
        assert page["items"][0]["reason"] == "reason 9"  # newest first
        while page["next_cursor"]:
            page = (await c.get("/api/v1/quarantine", params={
                "limit": 4, "cursor": page["next_cursor"]}, headers=viewer)).json()  # fmt: skip
            seen += [m["id"] for m in page["items"]]
        assert len(seen) == 10 and len(set(seen)) == 10

        r = await c.get("/api/v1/quarantine", params={"reason": "bad_json"}, headers=viewer)
        items = r.json()["items"]
        assert len(items) == 3 and all(m["device_id"] == "aq-3" for m in items)
        assert items[0]["payload_text"] is None and items[0]["payload_base64"] == "//4="
        r = await c.get("/api/v1/quarantine", headers=viewer, params={
            "device": "aq-1", "from": (t0 + timedelta(minutes=1)).isoformat(),
            "to": (t0 + timedelta(minutes=3)).isoformat()})  # fmt: skip
        assert [m["reason"] for m in r.json()["items"]] == ["reason 2", "reason 1"]
        assert r.json()["items"][0]["payload_text"] == '{"pm25": 5000}'

        reasons = (await c.get("/api/v1/quarantine/reasons", headers=viewer)).json()
        assert reasons == {"total": 10, "reasons": {"out_of_range": 5, "bad_json": 3,
                                                     "unknown_device": 2}}  # fmt: skip
        # A key for one district sees only its registered devices' messages.
        harbour = await api.headers("viewer", ["Harbour"])
        r = await c.get("/api/v1/quarantine", headers=harbour)
        assert {m["device_id"] for m in r.json()["items"]} == {"aq-3"}
        r = await c.get("/api/v1/quarantine", params={"cursor": "bm9wZQ"}, headers=viewer)
        assert r.status_code == 422 and "cursor" in r.json()["detail"]
