"""A running API with service types, two devices and a request a rule opened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from ingest.devices import DeviceRecord
from rules.actions.service_requests import open_request_for_alarm
from tests.support.api import RunningApi, running_api
from tests.support.fixtures_data import add_devices

DEVICES = [
    DeviceRecord(id="bin-1", profile="waste_container", lat=52.37, lon=4.89, district="Centre"),
    DeviceRecord(id="lamp-1", profile="streetlight", lat=52.1, lon=4.5, district="Noord"),
]

SERVICE_TYPES: list[dict[str, object]] = [
    {
        "service_code": "waste-full",
        "service_name": "Waste container full",
        "description": "A street waste container is full",
        "keywords": ["waste", "bin"],
        "group": "sanitation",
        "agency_responsible": "Sanitation department",
        "service_notice": "Emptied within 24 hours",
    },
    {
        "service_code": "light-out",
        "service_name": "Streetlight out",
        "group": "street",
        "attributes": [
            {
                "code": "pole",
                "datatype": "string",
                "required": True,
                "order": 1,
                "description": "Number on the pole",
            },
            {
                "code": "kind",
                "datatype": "singlevaluelist",
                "required": False,
                "order": 2,
                "description": "What is wrong?",
                "values": [{"key": "dark", "name": "Dark"}, {"key": "flicker", "name": "Flickers"}],
            },
            {
                "code": "hazards",
                "datatype": "multivaluelist",
                "order": 3,
                "description": "Hazards",
                "values": [
                    {"key": "wire", "name": "Loose wire"},
                    {"key": "glass", "name": "Glass"},
                ],
            },
            {"code": "height", "datatype": "number", "order": 4, "description": "Pole height"},
            {
                "variable": False,
                "code": "info",
                "datatype": "text",
                "order": 5,
                "description": "Call 112 if a wire is loose",
            },
        ],
    },
    {"service_code": "graffiti", "service_name": "Graffiti", "type": "batch"},
    {"service_code": "tip", "service_name": "Anonymous tip", "type": "blackbox"},
]


@dataclass
class City:
    """The served app and what is in it."""

    api: RunningApi
    database_url: str
    rule_request_id: int
    alarm_id: int


@pytest.fixture
async def city(database_url: str) -> AsyncIterator[City]:
    """The API over a database with service types (made through the operator API), two
    devices, and a request opened by a rule for bin-1."""
    keys = await add_devices(database_url, DEVICES)
    async with running_api(database_url, open311_jurisdiction_id="citygate.example") as api:
        headers = await api.headers("operator")
        for body in SERVICE_TYPES:
            r = await api.client.post("/api/v1/service-types", json=body, headers=headers)
            assert r.status_code == 201, r.text
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO rules (name, definition) VALUES ('r', '{}')")
                alarm_id = await conn.fetchval(
                    "INSERT INTO alarms (rule_id, subject, severity, raised_at) "
                    "SELECT id, 'bin-1', 'major', now() FROM rules RETURNING id"
                )
                rid, _ = await open_request_for_alarm(
                    conn, service_code="waste-full", device_key=keys["bin-1"],
                    alarm_id=alarm_id, description="Fill level 95% for 30 minutes",
                )  # fmt: skip
        finally:
            await conn.close()
        yield City(api, database_url, rid, alarm_id)
