"""SensorThings reads: root document, entity sets, navigation, properties, $ref, links."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from tests.support.api import running_api

from .seed import MINUTES, T0, seed, us

SETS = [
    "Things",
    "Locations",
    "HistoricalLocations",
    "Datastreams",
    "Sensors",
    "ObservedProperties",
    "Observations",
    "FeaturesOfInterest",
]


async def test_root_document_lists_sets_and_conformance(database_url: str) -> None:
    async with running_api(database_url, sta_mqtt_enabled=True, mqtt_port=18830) as api:
        body = (await api.client.get("/v1.1")).json()
        assert [v["name"] for v in body["value"]] == SETS
        assert body["value"][0]["url"] == f"{api.base}/v1.1/Things"
        conf = body["serverSettings"]["conformance"]
        assert "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data" in conf
        assert "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array" in conf
        # Writes cover only part of the create-update-delete class: not claimed.
        assert not any("create-update-delete" in c for c in conf)
        mqtt = "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates"
        assert mqtt in conf
        assert body["serverSettings"][mqtt]["endpoints"] == ["mqtt://127.0.0.1:18830"]
    async with running_api(database_url) as api:
        conf = (await api.client.get("/v1.1/")).json()["serverSettings"]["conformance"]
        assert not any("mqtt" in c for c in conf)


async def test_every_entity_set_answers_with_absolute_links(database_url: str) -> None:
    city = await seed(database_url)
    async with running_api(database_url) as api:
        for name in SETS:
            r = await api.client.get(f"/v1.1/{name}")
            assert r.status_code == 200, (name, r.text)
            values = r.json()["value"]
            assert values, name
            first = values[0]
            assert first["@iot.selfLink"].startswith(f"{api.base}/v1.1/{name}(")
            again = await api.client.get(first["@iot.selfLink"].removeprefix(api.base))
            assert again.status_code == 200
            assert again.json()["@iot.id"] == first["@iot.id"]
            for key, link in first.items():
                if key.endswith("@iot.navigationLink"):
                    nav = await api.client.get(link.removeprefix(api.base))
                    assert nav.status_code in (200, 404), (link, nav.text)
        thing = (await api.client.get(f"/v1.1/Things({city.keys['aq-1']})")).json()
        assert thing["name"] == "Town hall air"
        assert thing["properties"]["deviceId"] == "aq-1"
        assert thing["properties"]["district"] == "Centre"
        assert thing["properties"]["installer"] == "acme"
        unnamed = (await api.client.get(f"/v1.1/Things({city.keys['ws-1']})")).json()
        assert unnamed["name"] == "ws-1"  # a device without a name shows its id


async def test_datastreams_map_profile_metrics_with_units(database_url: str) -> None:
    city = await seed(database_url)
    async with running_api(database_url) as api:
        ds = (await api.client.get(f"/v1.1/Datastreams({city.ds('aq-1', 'pm25')})")).json()
        assert ds["unitOfMeasurement"] == {
            "name": "microgram per cubic metre",
            "symbol": "µg/m³",
            "definition": "urn:un:unece:uncefact:rec20:GQ",
        }
        assert ds["observationType"].endswith("OM_Measurement")
        status = (await api.client.get(f"/v1.1/Datastreams({city.ds('park-1', 'status')})")).json()
        assert status["observationType"].endswith("OM_CategoryObservation")
        assert status["unitOfMeasurement"] == {"name": None, "symbol": None, "definition": None}
        assert status["properties"]["states"] == ["free", "occupied", "closed", "unknown"]
        # One Datastream per metric of the device's profile.
        listed = (await api.client.get(f"/v1.1/Things({city.keys['aq-1']})/Datastreams")).json()
        assert len(listed["value"]) == 6
        op = (
            await api.client.get(f"/v1.1/Datastreams({city.ds('aq-1', 'pm25')})/ObservedProperty")
        ).json()
        assert op["name"] == "pm25"
        assert op["definition"] == "https://smartdatamodels.org/pm25"
        sensor = (
            await api.client.get(f"/v1.1/Datastreams({city.ds('aq-1', 'pm25')})/Sensor")
        ).json()
        assert sensor["metadata"]["smartDataModel"] == "AirQualityObserved"
        assert sensor["encodingType"] == "application/json"
        # ObservedProperty temperature is shared by three profiles.
        temp = (
            await api.client.get(f"/v1.1/ObservedProperties({city.mids['temperature']})")
        ).json()
        assert set(temp["properties"]["profiles"]) >= {"air_quality", "weather_station"}


async def test_navigation_paths_properties_value_and_ref(database_url: str) -> None:
    city = await seed(database_url)
    aq1 = city.keys["aq-1"]
    ds = city.ds("aq-1", "no2")
    at = T0 + timedelta(minutes=3)
    oid = city.obs("aq-1", "no2", at)
    async with running_api(database_url) as api:
        c = api.client
        obs = (await c.get(f"/v1.1/Observations('{oid}')")).json()
        assert obs["result"] == 37.0
        assert obs["phenomenonTime"] == "2024-05-01T12:03:00Z"
        assert obs["resultTime"] == obs["phenomenonTime"]
        assert (
            obs["Datastream@iot.navigationLink"]
            == f"{api.base}/v1.1/Observations('{oid}')/Datastream"
        )
        back = (await c.get(f"/v1.1/Observations('{oid}')/Datastream")).json()
        assert back["@iot.id"] == ds
        thing = (await c.get(f"/v1.1/Observations('{oid}')/Datastream/Thing")).json()
        assert thing["@iot.id"] == aq1
        under = (await c.get(f"/v1.1/Things({aq1})/Datastreams({ds})/Observations?$top=2")).json()
        assert [o["phenomenonTime"] for o in under["value"]] == [
            "2024-05-01T12:29:00Z",
            "2024-05-01T12:28:00Z",
        ]
        assert (await c.get(f"/v1.1/Things({aq1})/name")).json() == {"name": "Town hall air"}
        raw = await c.get(f"/v1.1/Things({aq1})/name/$value")
        assert raw.text == "Town hall air" and raw.headers["content-type"].startswith("text/plain")
        assert (await c.get(f"/v1.1/Observations('{oid}')/result/$value")).text == "37.0"
        ref = (await c.get(f"/v1.1/Things({aq1})/Datastreams/$ref?$top=1")).json()
        aq_metrics = ("pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity")
        first = min(city.ds("aq-1", m) for m in aq_metrics)
        assert ref["value"] == [{"@iot.selfLink": f"{api.base}/v1.1/Datastreams({first})"}]
        assert ref["@iot.nextLink"].startswith(f"{api.base}/v1.1/Things({aq1})/Datastreams/$ref?")
        one = (await c.get(f"/v1.1/Datastreams({ds})/Thing/$ref")).json()
        assert one == {"@iot.selfLink": f"{api.base}/v1.1/Things({aq1})"}
        # The Thing's Location, its HistoricalLocation and the FeatureOfInterest.
        loc = (await c.get(f"/v1.1/Things({aq1})/Locations")).json()["value"][0]
        assert loc["location"] == {"type": "Point", "coordinates": [13.405, 52.52]}
        assert loc["encodingType"] == "application/geo+json"
        hist = (await c.get(f"/v1.1/Things({aq1})/HistoricalLocations")).json()["value"]
        assert [h["@iot.id"] for h in hist] == [loc["@iot.id"]]
        foi = (await c.get(f"/v1.1/Observations('{oid}')/FeatureOfInterest")).json()
        assert foi["feature"] == loc["location"]
        of_foi = (
            await c.get(f"/v1.1/FeaturesOfInterest({foi['@iot.id']})/Observations?$count=true")
        ).json()
        assert of_foi["@iot.count"] == 3 * MINUTES
        # A device without a location has no Locations.
        assert (await c.get(f"/v1.1/Things({city.keys['ws-1']})/Locations")).json()["value"] == []


async def test_missing_entities_are_404_in_sensorthings_style(database_url: str) -> None:
    city = await seed(database_url)
    async with running_api(database_url) as api:
        c = api.client
        for path in (
            "/v1.1/Things(999)",
            "/v1.1/Nothings",
            f"/v1.1/Things({city.keys['aq-1']})/Datastreams({city.ds('aq-2', 'pm25')})",
            f"/v1.1/Observations('{city.ds('aq-1', 'pm25')}-{us(T0) + 1}')",
            f"/v1.1/Things({city.keys['aq-1']})/nope",
        ):
            r = await c.get(path)
            assert r.status_code == 404, path
            body = r.json()
            assert body["code"] == 404 and body["type"] == "error" and body["message"]


async def test_collections_under_missing_entities_are_404_and_empty_ones_200(
    database_url: str,
) -> None:
    city = await seed(database_url)
    aq1, ds = city.keys["aq-1"], city.ds("aq-1", "pm25")
    later = (T0 + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with running_api(database_url) as api:
        c = api.client
        for path in (
            "/v1.1/Things(999)/Datastreams",
            "/v1.1/Datastreams(99900019)/Observations",
            "/v1.1/Datastreams(99900019)/Observations/$ref",
            f"/v1.1/Datastreams({aq1 * 100000 + 32000})/Observations",  # no such metric
        ):
            r = await c.get(path, params={"$count": "true"})
            assert r.status_code == 404, (path, r.text)
            assert "no Thing" in r.json()["message"] or "no Datastream" in r.json()["message"]
        # The Datastream exists; nothing matches the filter: an empty page, not a 404.
        r = await c.get(
            f"/v1.1/Datastreams({ds})/Observations",
            params={"$filter": f"phenomenonTime gt {later}", "$count": "true"},
        )
        assert r.status_code == 200 and r.json()["value"] == [] and r.json()["@iot.count"] == 0
        assert (await c.get(f"/v1.1/Datastreams({ds})/Observations/$ref")).json()["value"]
        # A device that changed profile has no pm25 Datastream any more, although its
        # old readings are stored.
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE devices SET profile = 'noise' WHERE device_key = $1", aq1)
        finally:
            await conn.close()
        r = await c.get(f"/v1.1/Datastreams({ds})/Observations")
        assert r.status_code == 404, r.text
        r = await c.get(f"/v1.1/Things({aq1})/Datastreams")
        assert {d["name"].rsplit(" ", 1)[1] for d in r.json()["value"]} == {"LAeq", "LAmax", "LAS"}
