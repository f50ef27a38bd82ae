"""SensorThings query options: $filter (every function class), $expand, $select,
$orderby, $top/$skip/$count, paging through @iot.nextLink, dataArray."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import RunningApi, running_api

from .seed import MINUTES, seed


async def _ids(api: RunningApi, path: str, **params: str) -> list[Any]:
    r = await api.client.get(path, params=params)
    assert r.status_code == 200, r.text
    return [v["@iot.id"] for v in r.json()["value"]]


async def _names(api: RunningApi, flt: str) -> list[str]:
    r = await api.client.get("/v1.1/Things", params={"$filter": flt})
    assert r.status_code == 200, (flt, r.text)
    return [v["name"] for v in r.json()["value"]]


async def test_filter_comparison_logical_and_string_functions(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        assert await _names(api, "name eq 'Bay 7'") == ["Bay 7"]
        assert await _names(api, "name ne 'Bay 7' and properties/district eq 'Centre'") == [
            "Town hall air"
        ]
        assert await _names(api, "properties/district eq 'North' or name eq 'Bay 7'") == [
            "Harbour air",
            "Bay 7",
        ]
        assert await _names(api, "not (properties/district eq 'Centre')") == ["Harbour air"]
        assert await _names(api, "properties/district eq null") == ["ws-1"]
        assert await _names(api, "substringof('air', name)") == ["Town hall air", "Harbour air"]
        assert await _names(api, "contains(name, 'hall')") == ["Town hall air"]
        assert await _names(api, "startswith(name, 'Harb')") == ["Harbour air"]
        assert await _names(api, "endswith(name, ' 7')") == ["Bay 7"]
        assert await _names(api, "length(name) eq 5") == ["Bay 7"]
        assert await _names(api, "indexof(name, 'air') eq 10") == ["Town hall air"]
        assert await _names(api, "substring(name, 1, 3) eq 'arb'") == ["Harbour air"]
        assert await _names(api, "substring(name, 10) eq 'air'") == ["Town hall air"]
        assert await _names(api, "tolower(name) eq 'bay 7' and toupper(name) eq 'BAY 7'") == [
            "Bay 7"
        ]
        assert await _names(api, "trim(concat(' ', name)) eq 'Bay 7'") == ["Bay 7"]
        assert await _names(
            api, "concat(concat(name, '-'), properties/deviceId) eq 'Bay 7-park-1'"
        ) == ["Bay 7"]
        # Navigation through a collection: any Datastream matches.
        assert await _names(api, "Datastreams/ObservedProperty/name eq 'status'") == ["Bay 7"]


async def test_filter_arithmetic_math_and_time_functions(database_url: str) -> None:
    city = await seed(database_url)
    ds = city.ds("aq-1", "pm25")  # results 10 .. 39, one a minute from 12:00
    async with running_api(database_url) as api:
        path = f"/v1.1/Datastreams({ds})/Observations"

        async def results(flt: str) -> list[float]:
            r = await api.client.get(path, params={"$filter": flt, "$orderby": "phenomenonTime"})
            assert r.status_code == 200, (flt, r.text)
            return [v["result"] for v in r.json()["value"]]

        assert await results("result add 1 eq 12") == [11.0]
        assert await results("result sub 1 eq 9") == [10.0]
        assert await results("result mul 2 eq 30") == [15.0]
        assert await results("result div 4 eq 5") == [20.0]
        assert await results("result mod 10 eq 9 and result lt 30") == [19.0, 29.0]
        assert await results("-result gt -11") == [10.0]
        assert await results("round(result div 3) eq 13") == [38.0, 39.0]
        assert await results("floor(result div 10) eq 3 and ceiling(result div 10) eq 4") == [
            float(x) for x in range(31, 40)
        ]
        assert await results("phenomenonTime ge 2024-05-01T12:27:00Z") == [37.0, 38.0, 39.0]
        assert await results("phenomenonTime le 2024-05-01T14:01:00+02:00") == [10.0, 11.0]
        assert await results("resultTime le '2024-05-01T12:00:00Z'") == [10.0]
        assert await results("minute(phenomenonTime) eq 5") == [15.0]
        assert (
            len(await results("year(phenomenonTime) eq 2024 and month(phenomenonTime) eq 5")) == 30
        )
        assert len(await results("day(phenomenonTime) eq 1 and hour(phenomenonTime) eq 12")) == 30
        assert len(await results("second(phenomenonTime) eq 0")) == MINUTES
        assert len(await results("date(phenomenonTime) eq 2024-05-01")) == MINUTES
        assert await results("time(phenomenonTime) eq 12:02:00") == [12.0]
        assert await results("phenomenonTime gt now()") == []
        assert await results("phenomenonTime gt 2024-05-01T12:30:00Z sub duration'PT2M'") == [39.0]
        # Categorical results compare as their state names.
        park = f"/v1.1/Datastreams({city.ds('park-1', 'status')})/Observations"
        r = await api.client.get(park, params={"$filter": "result eq 'occupied'"})
        assert [v["result"] for v in r.json()["value"]] == ["occupied"]


async def test_filter_spatial_functions(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        near = "geo.distance(Locations/location, geography'POINT(13.405 52.52)') lt 2000"
        assert await _names(api, near) == ["Town hall air", "Bay 7"]
        box = "POLYGON((13 52, 14 52, 14 53, 13 53, 13 52))"
        assert await _names(api, f"geo.intersects(Locations/location, geography'{box}')") == [
            "Town hall air",
            "Bay 7",
        ]
        assert await _names(api, f"st_within(Locations/location, geometry'{box}')") == [
            "Town hall air",
            "Bay 7",
        ]
        assert await _names(api, f"st_disjoint(Locations/location, geometry'{box}')") == [
            "Harbour air"
        ]
        r = await api.client.get(
            "/v1.1/Locations",
            params={"$filter": "st_equals(location, geography'POINT(9.99 53.55)')"},
        )
        assert [v["location"]["coordinates"] for v in r.json()["value"]] == [[9.99, 53.55]]
        r = await api.client.get(
            "/v1.1/FeaturesOfInterest",
            params={"$filter": f"st_contains(geometry'{box}', feature)"},
        )
        assert len(r.json()["value"]) == 2
        line = "geo.length(geography'LINESTRING(13.4 52.5, 13.5 52.5)') gt 6000"
        assert len(await _names(api, line)) == 4


async def test_expand_nested_select_orderby_count(database_url: str) -> None:
    city = await seed(database_url)
    async with running_api(database_url) as api:
        r = await api.client.get(
            "/v1.1/Things",
            params={
                "$filter": "properties/district eq 'Centre'",
                "$select": "name,id",
                "$orderby": "name desc",
                "$count": "true",
                "$expand": "Datastreams($filter=ObservedProperty/name eq 'pm25' or "
                "ObservedProperty/name eq 'status';$select=name;$expand=ObservedProperty,"
                "Observations($top=2;$orderby=phenomenonTime desc;$count=true;"
                "$select=result,phenomenonTime)),Locations",
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["@iot.count"] == 2
        town, bay = body["value"]
        assert [town["name"], bay["name"]] == ["Town hall air", "Bay 7"]  # name desc
        assert set(town) == {"@iot.id", "@iot.selfLink", "name", "Datastreams", "Locations"}
        [ds] = town["Datastreams"]
        assert ds["name"] == "Town hall air pm25"
        assert ds["ObservedProperty"]["name"] == "pm25"
        assert ds["Observations@iot.count"] == MINUTES
        assert ds["Observations"] == [
            {"phenomenonTime": "2024-05-01T12:29:00Z", "result": 39.0},
            {"phenomenonTime": "2024-05-01T12:28:00Z", "result": 38.0},
        ]
        nxt = ds["Observations@iot.nextLink"]
        assert nxt.startswith(
            f"{api.base}/v1.1/Datastreams({city.ds('aq-1', 'pm25')})/Observations?"
        )
        more = (await api.client.get(nxt.removeprefix(api.base))).json()
        assert [o["result"] for o in more["value"]] == [37.0, 36.0]
        assert bay["Datastreams"][0]["Observations"][0]["result"] == "free"
        assert town["Locations"][0]["location"]["coordinates"] == [13.405, 52.52]
        # Expand with a path: Observations/Datastream/Thing.
        r = await api.client.get(
            "/v1.1/Observations",
            params={"$top": "1", "$expand": "Datastream/Thing($select=name)"},
        )
        obs = r.json()["value"][0]
        assert obs["Datastream"]["Thing"] == {"name": "Town hall air"}
        # Multiple order keys.
        r = await api.client.get(
            "/v1.1/Datastreams",
            params={"$orderby": "Thing/name asc, name desc", "$top": "2", "$select": "name"},
        )
        assert [v["name"] for v in r.json()["value"]] == ["Bay 7 status", "Bay 7 batteryLevel"]


async def test_paging_through_next_links_visits_every_row_once(database_url: str) -> None:
    city = await seed(database_url)
    total = 3 * MINUTES + 3 + 3
    async with running_api(database_url, max_page_size=7) as api:
        for query in (
            {"$top": "4"},  # default order: newest first, paged by time cursor
            {"$orderby": "phenomenonTime asc", "$top": "5"},
            {"$orderby": "result desc", "$top": "6"},  # offset paging
            {"$top": "500"},  # clamped to the maximum page size
        ):
            seen: list[str] = []
            url: str | None = "/v1.1/Observations?" + str(httpx.QueryParams(query))
            count = None
            while url is not None:
                body = (await api.client.get(url)).json()
                assert len(body["value"]) <= 7
                seen += [v["@iot.id"] for v in body["value"]]
                count = body.get("@iot.count", count)
                nxt = body.get("@iot.nextLink")
                url = nxt.removeprefix(api.base) if nxt else None
            assert len(seen) == total, query
            assert len(set(seen)) == total, query
        r = await api.client.get("/v1.1/Observations", params={"$count": "true", "$top": "0"})
        assert r.json()["@iot.count"] == total and r.json()["value"] == []
        # Things are paged by offset.
        first = await _ids(api, "/v1.1/Things", **{"$top": "3"})
        rest = await _ids(api, "/v1.1/Things", **{"$top": "3", "$skip": "3"})
        assert first + rest == sorted(city.keys.values())


async def test_data_array_result_format(database_url: str) -> None:
    city = await seed(database_url)
    async with running_api(database_url) as api:
        r = await api.client.get(
            "/v1.1/Observations",
            params={
                "$resultFormat": "dataArray",
                "$filter": "Datastream/Thing/id eq "
                f"{city.keys['aq-1']} and phenomenonTime ge 2024-05-01T12:28:00Z",
                "$select": "phenomenonTime,result",
                "$orderby": "phenomenonTime",
            },
        )
        assert r.status_code == 200, r.text
        groups = {g["Datastream@iot.navigationLink"]: g for g in r.json()["value"]}
        pm25 = groups[f"{api.base}/v1.1/Datastreams({city.ds('aq-1', 'pm25')})"]
        assert pm25["components"] == ["phenomenonTime", "result"]
        assert pm25["dataArray@iot.count"] == 2
        assert pm25["dataArray"] == [["2024-05-01T12:28:00Z", 38.0], ["2024-05-01T12:29:00Z", 39.0]]
        assert len(groups) == 3
        r = await api.client.get(
            f"/v1.1/Datastreams({city.ds('park-1', 'status')})/Observations",
            params={"$resultFormat": "dataArray", "$orderby": "phenomenonTime"},
        )
        [group] = r.json()["value"]
        assert group["components"] == ["id", "phenomenonTime", "resultTime", "result"]
        assert [row[3] for row in group["dataArray"]] == ["free", "occupied", "free"]
        r = await api.client.get("/v1.1/Things", params={"$resultFormat": "dataArray"})
        assert r.status_code == 400
