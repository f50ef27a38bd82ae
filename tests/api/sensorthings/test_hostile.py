"""Bad and hostile parameters get a 400 in SensorThings style with a message, never a
5xx, and never reach the database as SQL."""

from __future__ import annotations

import asyncpg

from tests.support.api import running_api

from .seed import seed

BAD = [
    ("/v1.1/Things", {"$top": "-1"}, "$top"),
    ("/v1.1/Things", {"$top": "ten"}, "$top"),
    ("/v1.1/Things", {"$skip": "-5"}, "$skip"),
    ("/v1.1/Observations", {"$skip": "100000000"}, "$skip"),
    ("/v1.1/Things", {"$count": "yes"}, "$count"),
    ("/v1.1/Things", {"$filter": "nope eq 1"}, "nope"),
    ("/v1.1/Things", {"$filter": "(name eq 'x'"}, "expected"),
    ("/v1.1/Things", {"$filter": "name eq 'x')"}, "unexpected"),
    ("/v1.1/Things", {"$filter": "name eq 'x'; drop table devices --'"}, "unexpected"),
    ("/v1.1/Things", {"$filter": "name eq 'x' or 1 eq 1; delete from devices"}, "unexpected"),
    ("/v1.1/Things", {"$filter": "name eq 1"}, "compare"),
    ("/v1.1/Things", {"$filter": "name"}, "condition"),
    ("/v1.1/Things", {"$filter": "frobnicate(name)"}, "unknown function"),
    ("/v1.1/Things", {"$filter": "length(name, name) eq 1"}, "argument"),
    ("/v1.1/Things", {"$filter": "geo.intersects(Locations/location, geography'POINT(1)')"}, "WKT"),
    (
        "/v1.1/Things",
        {"$filter": "st_within(Locations/location, geography'POLYGON((0 0, 1 1))')"},
        "closed",
    ),
    ("/v1.1/Things", {"$filter": "Datastreams eq 1"}, "collection"),
    ("/v1.1/Things", {"$filter": "not " * 60 + "true"}, "deeper"),
    ("/v1.1/Things", {"$filter": "x" * 5000}, "longer"),
    ("/v1.1/Things", {"$orderby": "nope desc"}, "nope"),
    ("/v1.1/Things", {"$select": "name,password"}, "password"),
    ("/v1.1/Things", {"$expand": "Datastreams(Observations"}, "unbalanced"),
    ("/v1.1/Things", {"$expand": "Owners"}, "Owners"),
    ("/v1.1/Things", {"$expand": "Datastreams($top=-1)"}, "$top"),
    ("/v1.1/Things", {"$expand": "Datastreams($frob=1)"}, "$frob"),
    ("/v1.1/Things", {"$resultFormat": "csv"}, "csv"),
    ("/v1.1/Things", {"$wat": "1"}, "$wat"),
    ("/v1.1/Observations", {"$skiptoken": "1;drop"}, "skiptoken"),
    ("/v1.1/Observations", {"$filter": "result div 0 gt 1"}, "division by zero"),
    ("/v1.1/Observations", {"$filter": "phenomenonTime gt 'yesterday'"}, "ISO 8601"),
    ("/v1.1/Observations", {"$filter": "phenomenonTime gt duration'P1Y'"}, "duration"),
    ("/v1.1/Things(1;drop)", {}, "is not an id"),
    ("/v1.1/Things(1)/name/$ref", {}, "$ref"),
]


async def test_bad_and_hostile_parameters_get_400(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        for path, params, expect in BAD:
            r = await api.client.get(path, params=params)
            assert r.status_code == 400, (path, params, r.status_code, r.text)
            body = r.json()
            assert body["code"] == 400 and body["type"] == "error", body
            assert expect.lower() in body["message"].lower(), (params, body["message"])
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM devices") == 4
    finally:
        await conn.close()


async def test_quotes_in_literals_are_data_not_sql(database_url: str) -> None:
    await seed(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE devices SET name = $1 WHERE id = 'ws-1'", "O'Brien's; --")
    finally:
        await conn.close()
    async with running_api(database_url) as api:
        r = await api.client.get("/v1.1/Things", params={"$filter": "name eq 'O''Brien''s; --'"})
        assert [v["name"] for v in r.json()["value"]] == ["O'Brien's; --"]
        r = await api.client.get(
            "/v1.1/Things", params={"$filter": "properties/x'); drop table devices; -- eq 1"}
        )
        assert r.status_code == 400
