"""GeoReport v2 edges with plain HTTP: discovery, errors in the spec's format and codes
(JSON and XML), POST checks (api_key, location, attributes), tokens, the date window,
well-formed XML with the spec's element names."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import asyncpg
import httpx
import pytest

from tests.api.open311.conftest import City

REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
]  # fmt: skip


def _xml(body: bytes) -> ET.Element:
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(body)  # noqa: S314 - our own server's answer


def _errors(r: httpx.Response, fmt: str) -> list[tuple[int, str]]:
    """(code, description) of a spec error answer."""
    if fmt == "json":
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        return [(e["code"], e["description"]) for e in r.json()]
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    root = _xml(r.content)
    assert root.tag == "errors"
    return [(int(e.findtext("code") or 0), e.findtext("description") or "") for e in root]


async def test_discovery_names_the_endpoint_and_formats(city: City) -> None:
    c = city.api.client
    doc = (await c.get("/open311/discovery.json")).json()
    endpoint = doc["endpoints"][0]
    assert endpoint["url"] == f"{city.api.base}/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert doc["changeset"].endswith("Z")
    root = _xml((await c.get("/open311/v2/discovery.xml")).content)
    assert root.tag == "discovery"
    assert [f.text for f in root.iterfind("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_errors_are_in_the_spec_format_with_its_codes(city: City, fmt: str) -> None:
    c = city.api.client
    r = await c.get(f"/open311/v2/services.{fmt}", params={"jurisdiction_id": "elsewhere.gov"})
    assert r.status_code == 404
    [(code, description)] = _errors(r, fmt)
    assert code == 404 and "jurisdiction_id 'elsewhere.gov' not found" in description
    # The right jurisdiction, or none (one jurisdiction served), or an empty one: fine.
    for params in ({"jurisdiction_id": "citygate.example"}, {}, {"jurisdiction_id": ""}):
        assert (await c.get(f"/open311/v2/services.{fmt}", params=params)).status_code == 200

    r = await c.get(f"/open311/v2/services/nope.{fmt}")
    assert r.status_code == 404 and "service_code 'nope' not found" in _errors(r, fmt)[0][1]
    r = await c.get(f"/open311/v2/requests/999999.{fmt}")
    assert r.status_code == 404 and _errors(r, fmt)[0][0] == 404
    r = await c.get(f"/open311/v2/tokens/unknown.{fmt}")
    assert r.status_code == 404 and "token" in _errors(r, fmt)[0][1]
    r = await c.get(f"/open311/v2/nothing-here.{fmt}")
    assert r.status_code == 404 and _errors(r, fmt)[0][0] == 404
    r = await c.delete(f"/open311/v2/services.{fmt}")
    assert r.status_code == 405 and _errors(r, fmt)[0][0] == 405
    r = await c.get(f"/open311/v2/requests.{fmt}", params={"status": "pending"})
    assert r.status_code == 400 and "status 'pending'" in _errors(r, fmt)[0][1]
    r = await c.get(f"/open311/v2/requests.{fmt}", params={"start_date": "yesterday"})
    assert r.status_code == 400 and "start_date" in _errors(r, fmt)[0][1]
    r = await c.get(f"/open311/v2/requests.{fmt}", params={"start_date": "2024-01-01T00:00:00"})
    assert r.status_code == 400 and "time zone" in _errors(r, fmt)[0][1]
    r = await c.get(
        f"/open311/v2/requests.{fmt}",
        params={"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-06-01T00:00:00Z"},
    )
    assert r.status_code == 400 and "90 days" in _errors(r, fmt)[0][1]
    assert (await c.get("/open311/v2/services.html")).status_code == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_post_checks_api_key_location_and_attributes(city: City, fmt: str) -> None:
    c = city.api.client
    url = f"/open311/v2/requests.{fmt}"
    good = {"service_code": "light-out", "address_string": "Main St 1", "attribute[pole]": "P1"}

    r = await c.post(url, data=good)
    assert r.status_code == 403 and "api_key is required" in _errors(r, fmt)[0][1]
    r = await c.post(url, data=good | {"api_key": "cg_00000000_" + "x" * 43})
    assert r.status_code == 403 and _errors(r, fmt)[0] == (
        403,
        "invalid api_key received -- can't proceed with create_request",
    )
    key = await city.api.key("viewer")  # any valid key may file a request

    r = await c.post(url, data=good | {"api_key": key, "jurisdiction_id": "nowhere"})
    assert r.status_code == 404
    r = await c.post(url, data={"api_key": key, "service_code": "light-out"})
    assert r.status_code == 400
    assert "a location is required" in _errors(r, fmt)[0][1]
    r = await c.post(url, data=good | {"api_key": key, "lat": "52.1"})
    assert r.status_code == 400 and "lat and long" in _errors(r, fmt)[0][1]
    r = await c.post(url, data={"api_key": key, "address_id": "A1"})
    assert r.status_code == 400 and "service_code" in _errors(r, fmt)[0][1]
    r = await c.post(url, data={"api_key": key, "service_code": "pothole", "address_id": "A1"})
    assert r.status_code == 404 and "pothole" in _errors(r, fmt)[0][1]
    r = await c.post(url, data=good | {"api_key": key, "description": "bell\x07"})
    assert r.status_code == 400 and "control characters" in _errors(r, fmt)[0][1]

    # Every attribute problem at once, one error each.
    r = await c.post(
        url,
        data={
            "api_key": key, "service_code": "light-out", "address_id": "A1",
            "attribute[kind]": "melted", "attribute[height]": "tall",
            "attribute[hazards][]": ["wire", "fire"], "attribute[colour]": "red",
        },
    )  # fmt: skip
    assert r.status_code == 400
    problems = " | ".join(d for _, d in _errors(r, fmt))
    assert len(_errors(r, fmt)) == 5, problems
    for part in ("attribute[pole] is required", "'melted' is not one of", "'tall' is not a number",
                 "'fire' is not one of", "attribute[colour] is not part of"):  # fmt: skip
        assert part in problems

    r = await c.post(
        url,
        data=good | {"api_key": key, "attribute[hazards][]": ["wire", "glass"], "lat": "52.2",
                     "long": "4.6", "media_url": "https://img.example.org/1.jpg"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    if fmt == "json":
        answer = r.json()[0]
    else:
        node = _xml(r.content).find("request")
        assert node is not None
        answer = {e.tag: e.text for e in node}
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    conn = await asyncpg.connect(city.database_url)
    try:
        stored = await conn.fetchrow(
            "SELECT source, attributes::text AS a, media_url, ST_Y(location) AS lat "
            "FROM service_requests WHERE id = $1",
            int(str(answer["service_request_id"])),
        )
    finally:
        await conn.close()
    assert stored is not None and stored["source"] == "citizen" and stored["lat"] == 52.2
    assert stored["a"] == '{"pole": "P1", "hazards": ["wire", "glass"]}'


async def test_batch_services_answer_a_token_and_blackbox_neither(city: City) -> None:
    c = city.api.client
    key = await city.api.key("viewer")
    r = await c.post(
        "/open311/v2/requests.xml",
        data={"api_key": key, "service_code": "graffiti", "address_string": "Bridge 4"},
    )
    assert r.status_code == 201
    node = _xml(r.content).find("request")
    assert node is not None and node.find("service_request_id") is None
    token = node.findtext("token")
    assert token
    r = await c.get(f"/open311/v2/tokens/{token}.xml")
    mapped = _xml(r.content).find("request")
    assert mapped is not None and mapped.findtext("token") == token
    request_id = mapped.findtext("service_request_id")
    assert request_id and request_id.isdigit()
    r = await c.get(f"/open311/v2/tokens/{token}.json")
    assert r.json() == [{"service_request_id": int(request_id), "token": token}]

    r = await c.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "tip", "address_id": "X-9"},
    )
    assert r.status_code == 201 and r.json() == [{"service_notice": None, "account_id": None}]


async def test_requests_xml_has_the_spec_elements_and_the_filters_work(city: City) -> None:
    c = city.api.client
    key = await city.api.key("viewer")
    r = await c.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "graffiti", "address_string": "Old wall"},
    )
    token = r.json()[0]["token"]
    old_id = (await c.get(f"/open311/v2/tokens/{token}.json")).json()[0]["service_request_id"]
    conn = await asyncpg.connect(city.database_url)
    try:  # a request from last year, outside the default window, and a messy description
        await conn.execute(
            "UPDATE service_requests SET requested_at = now() - interval '400 days' WHERE id = $1",
            old_id,
        )
        await conn.execute(
            "UPDATE service_requests SET description = 'tab\tbell\x07 & <b>' WHERE id = $1",
            city.rule_request_id,
        )
    finally:
        await conn.close()

    r = await c.get("/open311/v2/requests.xml")
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    root = _xml(r.content)
    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert [int(n.findtext("service_request_id") or 0) for n in requests] == [city.rule_request_id]
    assert [e.tag for e in requests[0]] == REQUEST_FIELDS
    assert requests[0].findtext("description") == "tab\tbell & <b>"

    # By id overrides the date window; service_code and status filter.
    ids = f"{old_id},{city.rule_request_id}"
    got = (await c.get("/open311/v2/requests.json", params={"service_request_id": ids})).json()
    assert {g["service_request_id"] for g in got} == {old_id, city.rule_request_id}
    got = (await c.get("/open311/v2/requests.json", params={"service_code": "graffiti"})).json()
    assert got == []
    got = (
        await c.get(
            "/open311/v2/requests.json",
            params={"start_date": "2000-01-01T00:00:00Z", "service_code": "graffiti,waste-full"},
        )
    ).json()
    assert got == []  # 2000-01-01 plus 90 days
    got = (
        await c.get("/open311/v2/requests.json", params=[("status", "closed"), ("status", "open")])
    ).json()
    assert [g["service_request_id"] for g in got] == [city.rule_request_id]
