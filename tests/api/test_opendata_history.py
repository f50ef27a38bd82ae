"""Open data history: bucketed aggregates equal aggregating the raw readings, whatever mix
of rollups and raw readings answers them; categorical metrics; limits; raw readings;
CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from datetime import datetime, timedelta

import asyncpg
import pytest

from api.open_data.state import SHARED_TTL_S
from ingest.db import open_pool
from ingest.maintenance import Maintenance, RetentionPolicy
from tests.api.opendata_data import (
    minutes_ago,
    now_minute,
    numeric_batch,
    parking_batch,
    seed,
    write,
)
from tests.support.api import RunningApi, running_api

RETENTION = RetentionPolicy(*(timedelta(days=400),) * 4)
HISTORY_PATH = "/api/v1/devices/aq-1/metrics/pm25/history"

_RAW = """
SELECT time_bucket($1::interval, time, '2000-01-03'::timestamptz) AS b, count(*) AS count,
       avg(value) AS avg, min(value) AS min, max(value) AS max, last(value, time) AS last,
       count(DISTINCT device_key) AS devices
FROM reading_values
WHERE device_key = ANY($2::int[]) AND metric_id = $3 AND time >= $4 AND time < $5
GROUP BY b ORDER BY b
"""


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def raw_aggregates(
    url: str, width: timedelta, keys: list[int], mid: int, start: datetime, end: datetime
) -> list[dict[str, object]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(_RAW, width, keys, mid, start, end)
    finally:
        await conn.close()
    return [{"time": iso(r["b"]), **{k: v for k, v in r.items() if k != "b"}} for r in rows]


def same(
    points: list[dict[str, object]], expected: list[dict[str, object]], aggs: list[str]
) -> None:
    assert [p["time"] for p in points] == [e["time"] for e in expected]
    for p, e in zip(points, expected, strict=True):
        for a in aggs:
            assert p[a] == pytest.approx(e[a], rel=1e-12), (p["time"], a)


async def _history_data(url: str) -> tuple[dict[str, int], dict[str, int], datetime]:
    """Six hours of pm25 from two old-town stations (a reading every ~20 s), rolled up by
    a pass half an hour ago; then a late reading inside the rollup's margin and a backfill
    three hours back, both written after that pass."""
    keys, mids = await seed(url)
    base = now_minute()
    rng = random.Random(5)
    rows = []
    for device in ("aq-1", "aq-2"):
        t = base - timedelta(hours=6)
        while t < base + timedelta(seconds=50):
            rows.append((t, keys[device], mids["pm25"], round(rng.uniform(0, 90), 3)))
            t += timedelta(seconds=rng.choice((13, 20, 27)))
    await write(url, numeric_batch(rows))
    async with open_pool(url) as pool, pool.acquire() as conn:
        await Maintenance(pool, RETENTION, timedelta(hours=2)).refresh_rollups(
            conn, minutes_ago(base, 30)
        )
    late = minutes_ago(base, 40) + timedelta(seconds=1)
    backfill = minutes_ago(base, 180) + timedelta(seconds=3)
    await write(url, numeric_batch([(late, keys["aq-1"], mids["pm25"], 500.0)]))
    await write(url, numeric_batch([(backfill, keys["aq-1"], mids["pm25"], 0.5)]))
    return keys, mids, base


async def test_bucketed_history_equals_raw_aggregates(database_url: str) -> None:
    keys, mids, base = await _history_data(database_url)
    aggs = ["count", "avg", "min", "max", "last"]
    async with running_api(database_url) as api:
        cases = [
            ("1m", base - timedelta(hours=4), base + timedelta(minutes=1)),
            ("5m", base - timedelta(hours=3, minutes=59, seconds=30), base + timedelta(seconds=10)),
            ("7m", base - timedelta(hours=4), base),
            ("1h", base - timedelta(hours=6, minutes=17), base + timedelta(hours=1)),
            ("90s", base - timedelta(hours=2), base),
        ]  # fmt: skip
        rollups_used = set()
        for bucket, start, end in cases:
            r = await api.client.get(
                "/api/v1/devices/aq-1/metrics/pm25/history",
                params={"from": iso(start), "to": iso(end), "bucket": bucket},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["bucket"] == bucket and body["aggregates"] == aggs
            assert body["unit"] == "GQ" and body["type"] == "number"
            width = timedelta(seconds=body["bucket_seconds"])
            expected = await raw_aggregates(
                database_url, width, [keys["aq-1"]], mids["pm25"], start, end
            )
            assert len(expected) > 3
            same(body["points"], expected, aggs)
            rollups_used.add(body["rollup"])
        # Both rollup tables answered part of some query; 90 s buckets only raw readings.
        assert rollups_used == {"1m", "1h", None}

        # The area over both old-town stations agrees with the raw readings too.
        start, end = base - timedelta(hours=4), base + timedelta(minutes=1)
        r = await api.client.get(
            "/api/v1/area/history",
            params={"metric": "pm25", "district": "Old Town", "bucket": "15m",
                    "from": iso(start), "to": iso(end)},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        area = r.json()
        assert area["device_count"] == 2 and area["profiles"] == ["air_quality"]
        expected = await raw_aggregates(
            database_url, timedelta(minutes=15), [keys["aq-1"], keys["aq-2"]], mids["pm25"],
            start, end,
        )  # fmt: skip
        same(area["points"], expected, ["count", "devices", "avg", "min", "max"])
        assert {p["devices"] for p in area["points"]} == {2}
        # The same area as a bounding box around both stations.
        r = await api.client.get(
            "/api/v1/area/history",
            params={"metric": "pm25", "bbox": "16.36,48.20,16.38,48.22", "bucket": "15m",
                    "from": iso(start), "to": iso(end)},
        )  # fmt: skip
        assert r.json()["points"] == area["points"]


async def test_automatic_bucket_and_default_range(database_url: str) -> None:
    await _history_data(database_url)
    async with running_api(database_url) as api:
        r = await api.client.get("/api/v1/devices/aq-1/metrics/pm25/history")
        body = r.json()
        # Default: the last day, in at most 1000 buckets (1440 minutes -> 2-minute buckets).
        assert body["bucket"] == "2m"
        start = datetime.fromisoformat(body["from"])
        end = datetime.fromisoformat(body["to"])
        assert end - start == timedelta(days=1)
        assert sum(p["count"] for p in body["points"]) > 600
        r = await api.client.get(
            "/api/v1/devices/aq-1/metrics/pm25/history",
            params={"from": body["to"][:-1], "to": body["to"]},  # naive times are UTC
        )
        assert r.status_code == 422 and "before" in r.json()["detail"]


async def test_categorical_metric_history(database_url: str) -> None:
    keys, mids = await seed(database_url)
    now = now_minute()
    base = now.replace(minute=30 * (now.minute // 30))  # a 30-minute bucket boundary
    await write(
        database_url,
        parking_batch(keys["park-1"], mids["status"], mids["batteryLevel"], [
            (minutes_ago(base, 29), "free", 90), (minutes_ago(base, 20), "occupied", 90),
            (minutes_ago(base, 5), "closed", 89), (minutes_ago(base, -10), "free", 89),
        ]),
    )  # fmt: skip
    async with running_api(database_url) as api:
        url = "/api/v1/devices/park-1/metrics/status/history"
        span = {"from": iso(minutes_ago(base, 60)), "to": iso(minutes_ago(base, -30))}
        r = await api.client.get(url, params={**span, "bucket": "30m"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["type"] == "state" and body["states"] == ["free", "occupied", "closed",
                                                             "unknown"]  # fmt: skip
        assert body["aggregates"] == ["count", "last"]
        assert [(p["count"], p["last"]) for p in body["points"]] == [(3, "closed"), (1, "free")]
        r = await api.client.get(url, params={**span, "agg": "avg"})
        assert r.status_code == 422
        assert "categorical" in r.json()["detail"] and "count or last" in r.json()["detail"]
        # The area endpoint needs a numeric metric and says so.
        r = await api.client.get("/api/v1/area/history?metric=status&district=Old%20Town")
        assert r.status_code == 422 and "categorical" in r.json()["detail"]
        # Raw readings carry the state's name.
        r = await api.client.get(url.replace("history", "readings"), params=span)
        assert [x["state"] for x in r.json()["readings"]] == ["free", "occupied", "closed", "free"]
        assert r.json()["readings"][1]["value"] == 1.0


async def test_limits_are_refused_with_the_limit_named(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url, max_range_days=30, max_history_points=500) as api:
        url = "/api/v1/devices/aq-1/metrics/pm25/history"
        long = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "bucket": "1d"}
        r = await api.client.get(url, params=long)
        assert r.status_code == 422
        assert "at most 30 days" in r.json()["detail"] and "max_range_days" in r.json()["detail"]
        fine = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "bucket": "1m"}
        r = await api.client.get(url, params=fine)
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert "1440 buckets" in detail and "at most 500" in detail
        r = await api.client.get(url.replace("history", "readings"), params={"limit": 501})
        assert r.status_code == 422 and "maximum of 500" in r.json()["detail"]
        r = await api.client.get(url, params={"bucket": "fortnight"})
        assert r.status_code == 422 and "15m" in r.json()["detail"]
        r = await api.client.get("/api/v1/devices/aq-1/metrics/LAeq/history")
        assert r.status_code == 404 and "pm25" in r.json()["detail"]  # lists its metrics


async def test_raw_readings_page_and_csv_round_trip(database_url: str) -> None:
    keys, mids = await seed(database_url)
    base = now_minute()
    values = [round(0.1 * i + 1 / 3, 12) for i in range(25)]
    await write(
        database_url,
        numeric_batch([(minutes_ago(base, 25 - i), keys["aq-2"], mids["no2"], v)
                       for i, v in enumerate(values)]),
    )  # fmt: skip
    async with running_api(database_url) as api:
        url = "/api/v1/devices/aq-2/metrics/no2/readings"
        params = {"from": iso(minutes_ago(base, 60)), "to": iso(base), "limit": "10"}
        got: list[float] = []
        page = (await api.client.get(url, params=params)).json()
        got += [x["value"] for x in page["readings"]]
        while page["next"]:
            page = (await api.client.get(page["next"].removeprefix(api.base))).json()
            got += [x["value"] for x in page["readings"]]
        assert got == values  # every reading once, in time order, exactly

        r = await api.client.get(url, params=params, headers={"Accept": "text/csv"})
        assert r.headers["content-type"].startswith("text/csv")
        assert 'rel="next"' in r.headers["link"]
        assert r.text.endswith("\r\n")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0] == ["time", "value", "state"]
        assert [float(x[1]) for x in rows[1:]] == values[:10]
        assert datetime.fromisoformat(rows[1][0]) == minutes_ago(base, 25)

        hist = "/api/v1/devices/aq-2/metrics/no2/history"
        hp = {"from": params["from"], "to": params["to"], "bucket": "10m"}
        as_json = (await api.client.get(hist, params=hp)).json()
        r = await api.client.get(hist, params={**hp, "format": "csv"})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        table = list(csv.DictReader(io.StringIO(r.text)))
        assert list(table[0]) == ["time", "count", "avg", "min", "max", "last"]
        assert len(table) == len(as_json["points"])
        for row, p in zip(table, as_json["points"], strict=True):
            assert datetime.fromisoformat(row["time"]) == datetime.fromisoformat(p["time"])
            assert int(row["count"]) == p["count"]
            for a in ("avg", "min", "max", "last"):
                assert float(row[a]) == p[a]  # exact: floats written in full


async def test_history_etag_changes_when_the_device_stores_a_reading(database_url: str) -> None:
    keys, mids = await seed(database_url)
    base = now_minute()
    await write(
        database_url, numeric_batch([(minutes_ago(base, 30), keys["aq-1"], mids["pm25"], 5.0)])
    )
    params = {"from": iso(minutes_ago(base, 60)), "to": iso(base), "bucket": "15m"}
    async with running_api(database_url) as api:
        area = {**params, "metric": "pm25", "district": "Old Town"}
        requests = {
            HISTORY_PATH: params,
            HISTORY_PATH.replace("history", "readings"): params,
            "/api/v1/area/history": area,
        }
        etags = {}
        for path, query in requests.items():
            first = await api.client.get(path, params=query)
            etags[path] = first.headers["etag"]
            assert "max-age=30" in first.headers["cache-control"]
            again = await api.client.get(path, params=query, headers={"If-None-Match": etags[path]})
            assert again.status_code == 304 and again.headers["etag"] == etags[path]
        # A reading stored for the device (even a late one, inside the range) is a new
        # version: the old ETags no longer match and the answers hold the reading.
        await write(
            database_url, numeric_batch([(minutes_ago(base, 20), keys["aq-1"], mids["pm25"], 7.0)])
        )
        for path, query in requests.items():
            r = await api.client.get(path, params=query, headers={"If-None-Match": etags[path]})
            assert r.status_code == 200 and r.headers["etag"] != etags[path], path
        r = await api.client.get(HISTORY_PATH, params=params)
        assert sum(p["count"] for p in r.json()["points"]) == 2
        # The area answer as CSV holds the same numbers as its JSON.
        as_json = (await api.client.get("/api/v1/area/history", params=area)).json()["points"]
        r = await api.client.get("/api/v1/area/history", params={**area, "format": "csv"})
        table = list(csv.DictReader(io.StringIO(r.text)))
        assert [float(row["avg"]) for row in table] == [p["avg"] for p in as_json]
        assert [int(row["devices"]) for row in table] == [p["devices"] for p in as_json]


async def test_final_answers_are_kept_until_backfill_is_rolled_up(database_url: str) -> None:
    keys, mids = await seed(database_url)
    base = now_minute()
    start, end = base - timedelta(hours=30), base - timedelta(hours=26)
    rows = [(start + timedelta(minutes=i), keys["aq-1"], mids["pm25"], float(i % 50))
            for i in range(240)]  # fmt: skip
    await write(database_url, numeric_batch(rows))

    async def maintain() -> None:
        async with open_pool(database_url) as pool, pool.acquire() as conn:
            await Maintenance(pool, RETENTION, timedelta(hours=2)).refresh_rollups(conn, base)

    def lookups(api: RunningApi, result: str) -> float:
        value = api.ctx.prometheus.get_sample_value(
            "citygate_api_history_cache_lookups_total", {"result": result}
        )
        return value or 0.0

    await maintain()
    params = {"from": iso(start), "to": iso(end), "bucket": "1m"}
    async with running_api(database_url) as api:
        first = await api.client.get(HISTORY_PATH, params=params)
        assert first.status_code == 200 and first.json()["rollup"] == "1m"
        assert "max-age=300" in first.headers["cache-control"]  # final: rollups alone
        expected = await raw_aggregates(
            database_url, timedelta(minutes=1), [keys["aq-1"]], mids["pm25"], start, end
        )
        same(first.json()["points"], expected, ["count", "avg", "min", "max", "last"])
        # A new reading of the device does not change a final answer: same ETag, and the
        # body comes from the cache.
        await write(database_url, numeric_batch([(base, keys["aq-1"], mids["pm25"], 1.0)]))
        hits = lookups(api, "hit")
        again = await api.client.get(HISTORY_PATH, params=params)
        assert again.headers["etag"] == first.headers["etag"]
        assert again.content == first.content
        assert lookups(api, "hit") == hits + 1
        revalidated = await api.client.get(
            HISTORY_PATH, params=params, headers={"If-None-Match": first.headers["etag"]}
        )
        assert revalidated.status_code == 304

        # Backfill inside the range: until a pass rolls it up the answer reads raw
        # readings for it (not final, not kept) and holds the new reading at once.
        late = start + timedelta(hours=2, seconds=30)
        await write(database_url, numeric_batch([(late, keys["aq-1"], mids["pm25"], 99.0)]))
        await asyncio.sleep(SHARED_TTL_S)  # what the API knew of the device is a second old
        during = await api.client.get(HISTORY_PATH, params=params)
        assert "max-age=30" in during.headers["cache-control"]
        assert during.headers["etag"] != first.headers["etag"]
        total = sum(p["count"] for p in first.json()["points"])
        assert sum(p["count"] for p in during.json()["points"]) == total + 1

        # Rolled up: final again under a new rollup generation, so the kept answer of
        # the old generation is not served.
        await maintain()
        after = await api.client.get(HISTORY_PATH, params=params)
        assert "max-age=300" in after.headers["cache-control"]
        assert after.headers["etag"] not in (first.headers["etag"], during.headers["etag"])
        assert after.json()["points"] == during.json()["points"]
        expected = await raw_aggregates(
            database_url, timedelta(minutes=1), [keys["aq-1"]], mids["pm25"], start, end
        )
        same(after.json()["points"], expected, ["count", "avg", "min", "max", "last"])
