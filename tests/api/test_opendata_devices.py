"""Open data: devices (JSON and GeoJSON), filters, paging, profiles, HTTP caching."""

from __future__ import annotations

import httpx

from tests.api.opendata_data import seed
from tests.support.api import running_api


def ids(r: httpx.Response) -> list[str]:
    return [d["id"] for d in r.json()["items"]]


async def test_devices_list_filters_and_pages(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url, default_page_size=2, max_page_size=3) as api:
        c = api.client
        r = await c.get("/api/v1/devices")
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 0
        assert [d["id"] for d in page["items"]] == ["aq-1", "aq-2"]
        first = page["items"][0]
        assert first["profile"] == "air_quality" and first["district"] == "Old Town"
        assert (first["lon"], first["lat"]) == (16.3738, 48.2082)
        assert first["status"] == "unknown" and first["last_seen"] is None
        assert "attributes" not in first and "credentials_ref" not in first  # operator-only

        # Following `next` walks every device exactly once.
        seen = [d["id"] for d in page["items"]]
        while page["next"]:
            assert page["next"].startswith(api.base)
            page = (await c.get(page["next"].removeprefix(api.base))).json()
            seen += [d["id"] for d in page["items"]]
        assert seen == sorted(seen) and len(seen) == 6 and len(set(seen)) == 6

        assert ids(await c.get("/api/v1/devices?profile=air_quality&limit=3")) == [
            "aq-1", "aq-2", "aq-3",
        ]  # fmt: skip
        assert ids(await c.get("/api/v1/devices?district=Harbour")) == ["aq-3", "noise-1"]
        assert ids(await c.get("/api/v1/devices?profile=noise,parking_spot")) == [
            "noise-1", "park-1",
        ]  # fmt: skip
        # Bounding box around the old town square only.
        r = await c.get("/api/v1/devices?bbox=16.372,48.207,16.375,48.209")
        assert ids(r) == ["aq-1", "park-1"]
        # Crossing the antimeridian (minLon > maxLon) covers both sides, not the middle.
        assert ids(await c.get("/api/v1/devices?bbox=170,-10,-170,10")) == []
        assert ids(await c.get("/api/v1/devices?bbox=16.4,48.0,16.0,48.3&limit=3")) == [
            "aq-3", "noise-1",
        ]  # fmt: skip

        # A page above the configured maximum is refused with the limit in the message.
        r = await c.get("/api/v1/devices?limit=4")
        assert r.status_code == 422
        assert "maximum of 3" in r.json()["detail"]


async def test_devices_as_geojson_follow_rfc_7946(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        r = await api.client.get("/api/v1/devices", params={"format": "geojson"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/geo+json"
        fc = r.json()
        assert fc["type"] == "FeatureCollection" and fc["numberMatched"] == 6
        by_id = {f["id"]: f for f in fc["features"]}
        aq = by_id["aq-1"]
        assert aq["type"] == "Feature"
        # Positions are [longitude, latitude].
        assert aq["geometry"] == {"type": "Point", "coordinates": [16.3738, 48.2082]}
        assert aq["properties"]["profile"] == "air_quality"
        assert "lon" not in aq["properties"]
        # A device without a location is a Feature with a null geometry.
        assert by_id["light-1"]["geometry"] is None
        for f in fc["features"]:
            if f["geometry"] is not None:
                lon, lat = f["geometry"]["coordinates"]
                assert -180 <= lon <= 180 and -90 <= lat <= 90

        # Accept negotiates the same representation; one device is a Feature.
        r = await api.client.get("/api/v1/devices", headers={"Accept": "application/geo+json"})
        assert r.json()["type"] == "FeatureCollection"
        r = await api.client.get("/api/v1/devices/aq-3?format=geojson")
        assert r.json()["type"] == "Feature" and r.json()["geometry"]["coordinates"][0] == 16.4


async def test_one_device_and_profiles(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        c = api.client
        r = await c.get("/api/v1/devices/aq-1")
        assert r.status_code == 200 and r.json()["name"] == "Air at the square"
        assert r.json()["tags"] == ["air"]
        r = await c.get("/api/v1/devices/nope")
        assert r.status_code == 404 and "nope" in r.json()["detail"]

        profiles = {p["name"]: p for p in (await c.get("/api/v1/profiles")).json()}
        assert set(profiles) >= {"air_quality", "parking_spot", "noise"}
        pm25 = next(m for m in profiles["air_quality"]["metrics"] if m["name"] == "pm25")
        assert pm25["unit"] == "GQ" and pm25["unit_symbol"] == "µg/m³"
        assert (pm25["min"], pm25["max"]) == (0, 1000)
        status = next(m for m in profiles["parking_spot"]["metrics"] if m["name"] == "status")
        assert status["type"] == "state"
        assert status["states"] == ["free", "occupied", "closed", "unknown"]
        assert (await c.get("/api/v1/profiles/noise")).json()["name"] == "noise"
        r = await c.get("/api/v1/profiles/nope")
        assert r.status_code == 404 and "air_quality" in r.json()["detail"]


async def test_etag_and_cache_control(database_url: str) -> None:
    await seed(database_url)
    async with running_api(database_url) as api:
        c = api.client
        r = await c.get("/api/v1/devices/aq-1")
        etag = r.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")  # strong
        assert "max-age=" in r.headers["cache-control"]
        again = await c.get("/api/v1/devices/aq-1", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        other = await c.get("/api/v1/devices/aq-1", headers={"If-None-Match": '"x", ' + etag})
        assert other.status_code == 304
        # A change to the device changes its ETag.
        await c.patch("/api/v1/devices/aq-1", json={"name": "renamed"}, headers=await api.headers())
        changed = await c.get("/api/v1/devices/aq-1", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.json()["name"] == "renamed"
        assert changed.headers["etag"] != etag
