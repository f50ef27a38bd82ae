"""Bad and hostile parameters (huge ranges, negative limits, injection strings, bad
bounding boxes, NaN, NUL bytes, calendar edges) get a 4xx with a readable message, never
a server error, and change nothing."""

from __future__ import annotations

import asyncpg
import pytest

from tests.api.opendata_data import seed
from tests.support.api import running_api

HISTORY = "/api/v1/devices/aq-1/metrics/pm25/history"
READINGS = "/api/v1/devices/aq-1/metrics/pm25/readings"
INJECTION = "'; DROP TABLE devices; --"

BAD_REQUESTS: list[tuple[str, dict[str, str], str]] = [
    # (path, query, a word the message must contain)
    ("/api/v1/devices", {"limit": "-1"}, "limit"),
    ("/api/v1/devices", {"limit": "0"}, "limit"),
    ("/api/v1/devices", {"limit": "99999999999999999999"}, "limit"),
    ("/api/v1/devices", {"offset": "-5"}, "offset"),
    ("/api/v1/devices", {"bbox": "1,2,3"}, "four numbers"),
    ("/api/v1/devices", {"bbox": "a,b,c,d"}, "not a number"),
    ("/api/v1/devices", {"bbox": "nan,0,1,1"}, "finite"),
    ("/api/v1/devices", {"bbox": "0,0,inf,1"}, "finite"),
    ("/api/v1/devices", {"bbox": "0,91,1,92"}, "latitudes"),
    ("/api/v1/devices", {"bbox": "200,0,210,1"}, "longitudes"),
    ("/api/v1/devices", {"bbox": "0,5,1,4"}, "minLat"),
    ("/api/v1/devices", {"bbox": INJECTION}, "bbox"),
    ("/api/v1/devices", {"district": "Old\x00Town"}, "refused"),
    ("/api/v1/devices", {"format": "xml"}, "format"),
    ("/api/v1/latest", {"metric": INJECTION}, "unknown metric"),
    (HISTORY, {"from": "0001-01-01T00:00:00+05:00"}, "1970"),
    (HISTORY, {"to": "9999-12-31T23:59:59Z"}, "2200"),
    (HISTORY, {"from": "1970-01-01T00:00:00Z", "to": "2199-12-31T00:00:00Z"}, "max_range_days"),
    (HISTORY, {"from": "not a date"}, "from"),
    (HISTORY, {"to": "nan"}, "to"),
    (HISTORY, {"bucket": "0m"}, "bucket"),
    (HISTORY, {"bucket": "-1m"}, "bucket"),
    (HISTORY, {"bucket": "9999999d"}, "bucket"),
    (HISTORY, {"bucket": "1s", "from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
     "max_history_points"),
    (HISTORY, {"agg": "avg;DROP TABLE readings"}, "agg"),
    (HISTORY, {"agg": ""}, "agg"),
    (READINGS, {"limit": "-3"}, "limit"),
    (READINGS, {"limit": "1000000"}, "maximum"),
    ("/api/v1/devices/aq-1/metrics/" + "x" * 100 + "/history", {}, "metric"),
    ("/api/v1/area/history", {"metric": "pm25"}, "district or a bbox"),
    ("/api/v1/area/history", {"metric": INJECTION, "district": "Harbour"}, "unknown metric"),
    ("/api/v1/area/history", {"metric": "pm25", "district": INJECTION, "bucket": "1x"}, "bucket"),
    ("/api/v1/live", {}, "device"),
    ("/api/v1/live", {"metric": "nope"}, "unknown metric"),
    ("/api/v1/live", {"device": "../../etc/passwd"}, "device"),
]  # fmt: skip


async def test_bad_parameters_get_4xx_with_a_message(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url, rate_limit_burst=1000) as api:
        for path, query, word in BAD_REQUESTS:
            r = await api.client.get(path, params=query)
            assert 400 <= r.status_code < 500, (path, query, r.status_code, r.text)
            detail = r.json()["detail"]
            assert isinstance(detail, str) and word in detail, (path, query, detail)

        # Injection attempts are plain values: they match nothing and break nothing.
        for param in ("district", "profile"):
            r = await api.client.get("/api/v1/devices", params={param: INJECTION})
            assert r.status_code == 200 and r.json()["total"] == 0
        r = await api.client.get("/api/v1/area/history",
                                 params={"metric": "pm25", "district": INJECTION})  # fmt: skip
        assert r.status_code == 200 and r.json()["points"] == []
        r = await api.client.get("/api/v1/devices/x'%20OR%20'1'='1")
        assert r.status_code in (404, 422)
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM devices") == 6
        finally:
            await conn.close()


@pytest.mark.parametrize(
    "body",
    [
        '{"id": "wx-9", "profile": "weather_station", "lat": NaN, "lon": 1}',
        '{"id": "wx-9", "profile": "weather_station", "lat": 1e999, "lon": 1}',
        '{"id": "wx-9\\u0000", "profile": "weather_station"}',
        '{"id": "wx-9", "profile": "weather_station", "name": "a\\u0000b"}',
        '{"id": "wx-9", "profile": "weather_station", "attributes": []}',
        '{"id": "wx-9", "profile": "weather_station", "tags": "' + "x;" * 10 + '"}',
        "[]",
        "{",
    ],
)
async def test_hostile_device_bodies_get_4xx(database_url: str, body: str) -> None:
    async with running_api(database_url) as api:
        headers = {**await api.headers("operator"), "Content-Type": "application/json"}
        r = await api.client.post("/api/v1/devices", content=body, headers=headers)
        if r.status_code == 201:  # harmless input stored as given (tags split on ';')
            assert r.json()["tags"] == ["x"] * 10
            return
        assert 400 <= r.status_code < 500, r.text
        assert isinstance(r.json()["detail"], str) and r.json()["detail"]
