"""SensorThings writes by operators: Things, Locations, Observations, CreateObservations;
authentication and roles; natural key and latest values kept right."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ingest.feed import CommitFeed, Committed
from tests.support.api import running_api

from .seed import T0, seed, us


async def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_writes_need_an_operator_key(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        c = api.client
        thing = {"name": "x", "properties": {"profile": "noise"}}
        r = await c.post("/v1.1/Things", json=thing)
        assert r.status_code == 401
        assert r.json()["type"] == "error" and "API key" in r.json()["message"]
        r = await c.post("/v1.1/Things", json=thing, headers=await api.headers("viewer"))
        assert r.status_code == 403
        r = await c.delete("/v1.1/Things(1)", headers=await api.headers("viewer"))
        assert r.status_code == 403
        # A key scoped to district North cannot touch a Centre device.
        north = await api.headers("operator", ["North"])
        r = await c.patch("/v1.1/Things(1)", json={"name": "mine"}, headers=north)
        assert r.status_code == 403
        assert (await c.get("/v1.1/Things(1)")).json()["name"] == "Town hall air"


async def test_thing_and_location_lifecycle(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        c, h = api.client, await api.headers("operator")
        # No profile: refused with the reason.
        r = await c.post("/v1.1/Things", json={"name": "x"}, headers=h)
        assert r.status_code == 400 and "profile" in r.json()["message"]
        r = await c.post(
            "/v1.1/Things",
            json={"name": "x", "properties": {"profile": "noise"}, "Datastreams": []},
            headers=h,
        )
        assert r.status_code == 400 and "profile" in r.json()["message"]
        r = await c.post(
            "/v1.1/Things",
            headers=h,
            json={
                "name": "Market square noise",
                "description": "Noise monitor on the market square",
                "properties": {"profile": "noise", "deviceId": "noise-9", "district": "Centre"},
                "Locations": [
                    {
                        "name": "Market square",
                        "encodingType": "application/geo+json",
                        "location": {"type": "Point", "coordinates": [13.4, 52.51]},
                    }
                ],
            },
        )
        assert r.status_code == 201, r.text
        thing = r.json()
        assert r.headers["location"] == thing["@iot.selfLink"]
        assert thing["description"] == "Noise monitor on the market square"
        assert thing["properties"]["deviceId"] == "noise-9"
        tid = thing["@iot.id"]
        rows = await _fetch(
            database_url, "SELECT profile, district FROM devices WHERE id = 'noise-9'"
        )
        assert [tuple(r) for r in rows] == [("noise", "Centre")]
        # Its Datastreams come from the profile at once.
        ds = (await c.get(f"/v1.1/Things({tid})/Datastreams")).json()["value"]
        assert {d["properties"]["metric"] for d in ds} == {"LAeq", "LAmax", "LAS"}
        [loc] = (await c.get(f"/v1.1/Things({tid})/Locations")).json()["value"]
        assert loc["name"] == "Market square"
        # Moving the Thing adds a HistoricalLocation; the old Location stays.
        r = await c.post(
            f"/v1.1/Things({tid})/Locations",
            headers=h,
            json={"location": {"type": "Point", "coordinates": [13.41, 52.512]}},
        )
        assert r.status_code == 201, r.text
        moved = r.json()
        assert moved["@iot.id"] != loc["@iot.id"]
        hist = (await c.get(f"/v1.1/Things({tid})/HistoricalLocations")).json()["value"]
        assert len(hist) == 2
        [current] = (await c.get(f"/v1.1/Things({tid})/Locations")).json()["value"]
        assert current["@iot.id"] == moved["@iot.id"]
        assert (await c.get(f"/v1.1/Locations({loc['@iot.id']})/Things")).json()["value"] == []
        # PATCH the current Location: the device moves, no new history row.
        r = await c.patch(
            f"/v1.1/Locations({moved['@iot.id']})",
            headers=h,
            json={"location": {"type": "Point", "coordinates": [13.42, 52.52]}},
        )
        assert r.status_code == 200, r.text
        rows = await _fetch(
            database_url, "SELECT ST_X(location) FROM devices WHERE device_key = $1", tid
        )
        assert rows[0][0] == 13.42
        assert len((await c.get(f"/v1.1/Things({tid})/HistoricalLocations")).json()["value"]) == 2
        # PATCH the Thing.
        r = await c.patch(
            f"/v1.1/Things({tid})",
            headers=h,
            json={"name": "Market noise", "properties": {"district": "South", "owner": "city"}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Market noise"
        assert r.json()["properties"]["owner"] == "city"
        assert r.json()["properties"]["district"] == "South"
        # Read-only entity sets say why.
        r = await c.post("/v1.1/Sensors", headers=h, json={"name": "s"})
        assert r.status_code == 405 and "profile" in r.json()["message"]
        # DELETE the Location, then the Thing.
        r = await c.delete(f"/v1.1/Locations({moved['@iot.id']})", headers=h)
        assert r.status_code == 200
        assert (await c.get(f"/v1.1/Things({tid})/Locations")).json()["value"] == []
        r = await c.delete(f"/v1.1/Things({tid})", headers=h)
        assert r.status_code == 200
        assert (await c.get(f"/v1.1/Things({tid})")).status_code == 404
        assert (await c.get(f"/v1.1/Locations({loc['@iot.id']})")).status_code == 404


async def test_observation_post_patch_delete_keep_key_and_latest(database_url: str) -> None:
    city = await seed(database_url)
    feed = CommitFeed()
    seen: list[Committed] = []
    feed.subscribe("test", seen.append)
    ds = city.ds("aq-1", "pm10")
    at = T0 + timedelta(hours=1)
    async with running_api(database_url, feed=feed) as api:
        c, h = api.client, await api.headers("operator")
        r = await c.post(
            "/v1.1/Observations",
            headers=h,
            json={
                "phenomenonTime": "2024-05-01T13:00:00Z",
                "result": 42,
                "Datastream": {"@iot.id": ds},
            },
        )
        assert r.status_code == 201, r.text
        obs = r.json()
        assert obs["@iot.id"] == city.obs("aq-1", "pm10", at)
        assert obs["result"] == 42.0
        assert len(seen) == 1 and seen[0].value.tolist() == [42.0]
        # The same natural key again: a conflict, nothing stored twice.
        again = {"phenomenonTime": "2024-05-01T13:00:00Z", "result": 43}
        r = await c.post(f"/v1.1/Datastreams({ds})/Observations", headers=h, json=again)
        assert r.status_code == 409
        # Another metric at an existing device time joins that reading row.
        t_existing = "2024-05-01T12:05:00Z"
        r = await c.post(
            f"/v1.1/Datastreams({city.ds('aq-1', 'o3')})/Observations",
            headers=h,
            json={"phenomenonTime": t_existing, "result": 7.5},
        )
        assert r.status_code == 201, r.text
        rows = await _fetch(
            database_url,
            "SELECT count(*) FROM readings WHERE device_key = $1 AND time = $2",
            city.keys["aq-1"],
            T0 + timedelta(minutes=5),
        )
        assert rows[0][0] == 1
        # Out of range, wrong type, unknown state: 400 with the reason.
        for body, expect in (
            ({"result": 5000}, "range"),
            ({"result": "high"}, "number"),
            ({"result": 1, "parameters": {}}, "parameters"),
            ({"result": 1, "phenomenonTime": "2999-01-01T00:00:00Z"}, "future"),
        ):
            r = await c.post(f"/v1.1/Datastreams({ds})/Observations", headers=h, json=body)
            assert r.status_code == 400 and expect in r.json()["message"], r.text
        park = f"/v1.1/Datastreams({city.ds('park-1', 'status')})/Observations"
        r = await c.post(
            park, headers=h, json={"result": "flying", "phenomenonTime": "2024-05-01T13:00:00Z"}
        )
        assert r.status_code == 400 and "free" in r.json()["message"]
        r = await c.post(
            park, headers=h, json={"result": "closed", "phenomenonTime": "2024-05-01T13:00:00Z"}
        )
        assert r.status_code == 201 and r.json()["result"] == "closed"
        latest = await _fetch(
            database_url,
            "SELECT l.value, l.state, l.time FROM latest_values l WHERE device_key = $1",
            city.keys["park-1"],
        )
        assert [(x["value"], x["state"], x["time"]) for x in latest] == [(2.0, "closed", at)]
        # PATCH corrects the value, latest follows; DELETE restores the previous latest.
        oid = obs["@iot.id"]
        r = await c.patch(f"/v1.1/Observations('{oid}')", headers=h, json={"result": 41})
        assert r.status_code == 200 and r.json()["result"] == 41.0
        pm10 = city.mids["pm10"]

        async def latest_pm10() -> list[tuple[float, object]]:
            rows = await _fetch(
                database_url,
                "SELECT value, time FROM latest_values WHERE device_key = $1 AND metric_id = $2",
                city.keys["aq-1"],
                pm10,
            )
            return [(x["value"], x["time"]) for x in rows]

        assert await latest_pm10() == [(41.0, at)]
        r = await c.delete(f"/v1.1/Observations('{oid}')", headers=h)
        assert r.status_code == 200
        assert (await c.get(f"/v1.1/Observations('{oid}')")).status_code == 404
        assert await latest_pm10() == []
        assert (await c.delete(f"/v1.1/Observations('{oid}')", headers=h)).status_code == 404


async def test_create_observations_reports_each_item(database_url: str) -> None:
    city = await seed(database_url)
    ds = city.ds("aq-2", "no2")
    async with running_api(database_url) as api:
        c, h = api.client, await api.headers("operator")
        body = [
            {
                "Datastream": {"@iot.id": ds},
                "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
                "dataArray@iot.count": 4,
                "dataArray": [
                    ["2024-05-01T13:00:00Z", 20, None],
                    ["2024-05-01T13:01:00Z", 21, None],
                    ["2024-05-01T13:01:00Z", 22, None],  # same key twice
                    ["2024-05-01T13:02:00Z", -5, None],  # out of range
                ],
            }
        ]
        r = await c.post("/v1.1/CreateObservations", headers=h, json=body)
        assert r.status_code == 201, r.text
        out = r.json()
        assert out[0] == f"{api.base}/v1.1/Observations('{ds}-{us(T0 + timedelta(hours=1))}')"
        assert out[1].startswith(f"{api.base}/v1.1/Observations(")
        assert out[2].startswith("error") and "twice" in out[2]
        assert out[3].startswith("error") and "range" in out[3]
        got = (await c.get(out[1].removeprefix(api.base))).json()
        assert got["result"] == 21.0
        bad = [{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime"], "dataArray": []}]
        r = await c.post("/v1.1/CreateObservations", headers=h, json=bad)
        assert r.status_code == 400 and "result" in r.json()["message"]
        r = await c.post("/v1.1/CreateObservations", json=body)
        assert r.status_code == 401
