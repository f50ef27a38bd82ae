"""Open data: latest values of every device in one call (from ``latest``, not the
hypertable), filters, GeoJSON, one device."""

from __future__ import annotations

import asyncpg
import httpx

from tests.api.opendata_data import (
    minutes_ago,
    now_minute,
    numeric_batch,
    parking_batch,
    seed,
    write,
)
from tests.support.api import running_api


def ids(r: httpx.Response) -> list[str]:
    return [d["id"] for d in r.json()["devices"]]


async def test_latest_values_of_every_device(database_url: str) -> None:
    keys, m = await seed(database_url)
    base = now_minute()
    await write(database_url, numeric_batch([
        (minutes_ago(base, 10), keys["aq-1"], m["pm25"], 11.0),
        (minutes_ago(base, 10), keys["aq-1"], m["no2"], 30.0),
        (minutes_ago(base, 5), keys["aq-1"], m["pm25"], 12.5),
        (minutes_ago(base, 7), keys["aq-3"], m["pm25"], 40.0),
        (minutes_ago(base, 2), keys["noise-1"], m["LAeq"], 61.2),
    ]))  # fmt: skip
    # A late reading, older than what is stored, does not replace the newer value.
    await write(
        database_url, numeric_batch([(minutes_ago(base, 30), keys["aq-1"], m["pm25"], 1.0)])
    )
    spot = [(minutes_ago(base, 3), "occupied", 77.0)]
    await write(database_url, parking_batch(keys["park-1"], m["status"], m["batteryLevel"], spot))
    # Latest values are kept apart from the hypertable: empty it and they are still served.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM readings")
    finally:
        await conn.close()

    async with running_api(database_url) as api:
        r = await api.client.get("/api/v1/latest")
        assert r.status_code == 200, r.text
        body = r.json()
        by_id = {d["id"]: d for d in body["devices"]}
        assert body["count"] == 4 and set(by_id) == {"aq-1", "aq-3", "noise-1", "park-1"}
        aq = by_id["aq-1"]
        assert aq["readings"]["pm25"]["value"] == 12.5
        assert aq["readings"]["no2"]["value"] == 30.0
        assert aq["readings"]["no2"]["time"] < aq["readings"]["pm25"]["time"] == aq["time"]
        assert (aq["lon"], aq["lat"], aq["district"]) == (16.3738, 48.2082, "Old Town")
        got = by_id["park-1"]["readings"]
        assert got["status"] == {"value": 1.0, "state": "occupied", "time": got["status"]["time"]}
        assert "state" not in got["batteryLevel"]

        r = await api.client.get("/api/v1/latest?metric=pm25")
        assert ids(r) == ["aq-1", "aq-3"]
        assert all(set(d["readings"]) == {"pm25"} for d in r.json()["devices"])
        assert ids(await api.client.get("/api/v1/latest?district=Harbour")) == ["aq-3", "noise-1"]
        assert ids(await api.client.get("/api/v1/latest?profile=parking_spot")) == ["park-1"]
        assert ids(await api.client.get("/api/v1/latest?bbox=16.39,48.18,16.41,48.20")) == [
            "aq-3", "noise-1",
        ]  # fmt: skip
        r = await api.client.get("/api/v1/latest?metric=nonsense")
        assert r.status_code == 422 and "nonsense" in r.json()["detail"]

        fc = (await api.client.get("/api/v1/latest?format=geojson")).json()
        assert fc["type"] == "FeatureCollection"
        f = next(f for f in fc["features"] if f["id"] == "noise-1")
        assert f["geometry"]["coordinates"] == [16.401, 48.191]
        assert f["properties"]["readings"]["LAeq"]["value"] == 61.2

        one = (await api.client.get("/api/v1/devices/aq-3/latest")).json()
        assert one["readings"]["pm25"]["value"] == 40.0
        never = (await api.client.get("/api/v1/devices/aq-2/latest")).json()
        assert never["time"] is None and never["readings"] == {}
        r = await api.client.get("/api/v1/devices/nope/latest")
        assert r.status_code == 404
