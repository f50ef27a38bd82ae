"""A real Open311 client (the ``georeport`` package) reads our GeoReport v2 server in
JSON and XML: services, a service definition, requests (rule-opened and citizen), one
request by id."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from georeport import GeoReport

from tests.api.open311.conftest import City


def _as_list(value: Any) -> list[Any]:
    """xmltodict gives a dict for one repeated element and a list for several."""
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_client_reads_services_definition_and_requests(city: City, fmt: str) -> None:
    api = city.api
    key = await api.key("viewer")
    posted = await api.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "jurisdiction_id": "citygate.example",
            "service_code": "light-out",
            "lat": "52.1",
            "long": "4.5",
            "email": "citizen@example.org",
            "first_name": "Ada",
            "description": "Dark since Monday",
            "attribute[pole]": "P-1234",
            "attribute[kind]": "dark",
        },
    )
    assert posted.status_code == 201, posted.text
    citizen_id = posted.json()[0]["service_request_id"]

    client = GeoReport(f"{api.base}/open311/v2", jurisdiction="citygate.example", output_format=fmt)

    services = await asyncio.to_thread(client.get_service_list)
    services = _as_list(services)
    by_code = {s["service_code"]: s for s in services}
    assert set(by_code) == {"waste-full", "light-out", "graffiti", "tip"}
    waste = by_code["waste-full"]
    assert waste["service_name"] == "Waste container full"
    assert waste["group"] == "sanitation" and waste["keywords"] == "waste, bin"
    assert str(waste["metadata"]).lower() == "false"
    assert str(by_code["light-out"]["metadata"]).lower() == "true"
    assert by_code["graffiti"]["type"] == "batch"

    definition = await asyncio.to_thread(client.get_service_definition, "light-out")
    assert definition["service_code"] == "light-out"
    attrs = definition["attributes"]
    attrs = attrs if fmt == "json" else _as_list(attrs["attribute"])
    assert [a["code"] for a in attrs] == ["pole", "kind", "hazards", "height", "info"]
    kind = attrs[1]
    values = kind["values"] if fmt == "json" else _as_list(kind["values"]["value"])
    assert [(v["key"], v["name"]) for v in values] == [("dark", "Dark"), ("flicker", "Flickers")]
    assert str(attrs[0]["required"]).lower() == "true"
    assert str(attrs[4]["variable"]).lower() == "false"

    found = _as_list(await asyncio.to_thread(client.get_service_requests, status="open"))
    by_id = {int(r["service_request_id"]): r for r in found}
    assert set(by_id) == {city.rule_request_id, citizen_id}
    rule = by_id[city.rule_request_id]
    # A request a rule opened is public too: the device's location and the description.
    assert float(rule["lat"]) == pytest.approx(52.37) and float(rule["long"]) == pytest.approx(4.89)
    assert rule["description"] == "Fill level 95% for 30 minutes"
    assert rule["service_name"] == "Waste container full" and rule["status"] == "open"
    assert rule["agency_responsible"] == "Sanitation department"
    assert rule["requested_datetime"].endswith("Z")
    citizen = by_id[citizen_id]
    assert citizen["service_code"] == "light-out" and citizen["description"] == "Dark since Monday"
    # The reporter's contact details are never public.
    assert "email" not in citizen and "first_name" not in citizen
    assert "citizen@example.org" not in repr(found)

    only = await asyncio.to_thread(client.get_service_request, str(citizen_id))
    assert int(only["service_request_id"]) == citizen_id
    assert float(only["lat"]) == pytest.approx(52.1)

    if fmt == "json":  # (the client cannot read an empty XML list: it indexes into None)
        assert await asyncio.to_thread(client.get_service_requests, status="closed") == []
