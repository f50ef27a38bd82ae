"""Service requests the rules engine opens: one per (device, service) while open, also
under concurrent callers; notes on clear; operator closing resolves the alarm's action."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from ingest.devices import DeviceRecord
from rules.actions.service_requests import (
    ServiceRequestError,
    get_request,
    note_alarm_cleared,
    open_request_for_alarm,
    service_codes,
    update_request,
)
from rules.actions.service_types import ServiceTypeIn, save_service_type
from tests.support.fixtures_data import add_devices

BIN = DeviceRecord(id="bin-1", profile="waste_container", lat=52.37, lon=4.89, district="Centre")
OTHER = DeviceRecord(id="bin-2", profile="waste_container", lat=52.1, lon=4.5, district="Noord")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a database with two bins, a service type and a rule."""
    await add_devices(database_url, [BIN, OTHER])
    c = await asyncpg.connect(database_url)
    try:
        await save_service_type(
            c,
            ServiceTypeIn(service_code="waste-full", service_name="Waste container full"),
            create=True,
        )
        await c.execute(
            "INSERT INTO rules (name, definition) VALUES ('bins', '{}'::jsonb)"
        )  # fmt: skip
        yield c
    finally:
        await c.close()


async def _alarm(c: asyncpg.Connection, subject: str) -> int:
    return int(
        await c.fetchval(
            "INSERT INTO alarms (rule_id, subject, severity, raised_at) "
            "SELECT id, $1, 'major', now() FROM rules WHERE name = 'bins' RETURNING id",
            subject,
        )
    )


async def _key(c: asyncpg.Connection, device_id: str) -> int:
    return int(await c.fetchval("SELECT device_key FROM devices WHERE id = $1", device_id))


async def _action(c: asyncpg.Connection, alarm_id: int) -> dict[str, object]:
    text = await c.fetchval(
        "SELECT details -> 'actions' -> 'service_request' FROM alarms WHERE id = $1", alarm_id
    )
    result: dict[str, object] = orjson.loads(text)
    return result


async def test_one_open_request_per_device_and_service(conn: asyncpg.Connection) -> None:
    key = await _key(conn, "bin-1")
    first_alarm, second_alarm = await _alarm(conn, "bin-1"), await _alarm(conn, "bin-1x")
    async with conn.transaction():
        rid, created = await open_request_for_alarm(
            conn, service_code="waste-full", device_key=key, alarm_id=first_alarm,
            description="Fill level above 90% for 30 min",
        )  # fmt: skip
    assert created
    again, created_again = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=key, alarm_id=second_alarm, description="x"
    )
    assert (again, created_again) == (rid, False)
    req = await get_request(conn, rid)
    # The device's location, the alarm that opened it, the rule as its source.
    assert (req.lat, req.lon) == pytest.approx((52.37, 4.89))
    assert req.alarm_id == first_alarm and req.source == "rule" and req.device_id == "bin-1"
    assert req.status == "open" and req.description.startswith("Fill level")
    assert await _action(conn, first_alarm) == {"id": rid, "status": "open", "opened": True}
    assert await _action(conn, second_alarm) == {"id": rid, "status": "open", "opened": False}
    # Another device, or explicit coordinates, get their own request.
    other, created_other = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=await _key(conn, "bin-2"),
        alarm_id=second_alarm, description="y", lon=4.0, lat=51.0,
    )  # fmt: skip
    assert created_other and other != rid
    assert ((await get_request(conn, other)).lat, (await get_request(conn, other)).lon) == (
        51.0,
        4.0,
    )

    # Closed, the next alarm opens a new one.
    async with conn.transaction():
        await update_request(conn, rid, {"status": "closed", "status_notes": "emptied"}, "ops")
    newer, created_newer = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=key, alarm_id=second_alarm, description="z"
    )
    assert created_newer and newer not in (rid, other)


async def test_concurrent_callers_open_exactly_one(
    database_url: str, conn: asyncpg.Connection
) -> None:
    key = await _key(conn, "bin-1")
    alarms = [await _alarm(conn, f"bin-1/{i}") for i in range(8)]

    async def raise_one(alarm_id: int) -> tuple[int, bool]:
        c = await asyncpg.connect(database_url)
        try:
            async with c.transaction():
                result = await open_request_for_alarm(
                    c, service_code="waste-full", device_key=key, alarm_id=alarm_id,
                    description="full",
                )  # fmt: skip
                await asyncio.sleep(0.05)  # hold the transaction open a little
                return result
        finally:
            await c.close()

    results = await asyncio.gather(*(raise_one(a) for a in alarms))
    assert sum(created for _, created in results) == 1
    assert len({rid for rid, _ in results}) == 1
    assert await conn.fetchval("SELECT count(*) FROM service_requests") == 1


async def test_unknown_service_code_leaves_the_callers_transaction_usable(
    conn: asyncpg.Connection,
) -> None:
    alarm = await _alarm(conn, "bin-1")
    async with conn.transaction():
        with pytest.raises(ServiceRequestError, match="unknown service code 'pothole'"):
            await open_request_for_alarm(
                conn, service_code="pothole", device_key=None, alarm_id=alarm, description=""
            )
        # The rules engine goes on in the same transaction.
        assert await conn.fetchval("SELECT count(*) FROM alarms") == 1
    assert await service_codes(conn) == {"waste-full"}


async def test_area_alarm_requests_are_keyed_by_the_alarm(conn: asyncpg.Connection) -> None:
    alarm = await _alarm(conn, "district:Centre")
    rid, created = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=None, alarm_id=alarm, description="area",
        lon=4.9, lat=52.4, address="Dam, Centre",
    )  # fmt: skip
    again = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=None, alarm_id=alarm, description="area"
    )
    assert created and again == (rid, False)
    req = await get_request(conn, rid)
    assert req.address == "Dam, Centre" and req.device_id is None


async def test_clearing_notes_and_closing_resolves_the_alarm(conn: asyncpg.Connection) -> None:
    key = await _key(conn, "bin-1")
    alarm, later = await _alarm(conn, "bin-1"), await _alarm(conn, "bin-1b")
    rid, _ = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=key, alarm_id=alarm, description="full"
    )
    await open_request_for_alarm(
        conn, service_code="waste-full", device_key=key, alarm_id=later, description="full"
    )
    await note_alarm_cleared(conn, alarm, "alarm cleared at 10:00: level back to 20%")
    await note_alarm_cleared(conn, later, "second alarm cleared")
    req = await get_request(conn, rid)
    assert req.status == "open"
    assert req.status_notes == "alarm cleared at 10:00: level back to 20%\nsecond alarm cleared"

    async with conn.transaction():
        closed = await update_request(
            conn, rid, {"status": "closed", "status_notes": "emptied by crew 4"}, "key:ab (ops)"
        )
    assert closed.status == "closed" and closed.closed_by == "key:ab (ops)"
    assert closed.closed_at is not None and closed.updated_at >= closed.requested_at
    for a, opened in ((alarm, True), (later, False)):
        action = await _action(conn, a)
        assert action["status"] == "closed" and action["id"] == rid
        assert action["opened"] is opened and action["notes"] == "emptied by crew 4"
        event = await conn.fetchrow(
            "SELECT kind, actor, details::text AS details FROM alarm_events WHERE alarm_id = $1",
            a,
        )
        assert event is not None and event["kind"] == "request_closed"
        assert event["actor"] == "key:ab (ops)"
        assert orjson.loads(event["details"]) == {
            "service_request_id": rid,
            "status_notes": "emptied by crew 4",
        }
    # A cleared alarm does not write on a closed request.
    await note_alarm_cleared(conn, alarm, "late note")
    assert (await get_request(conn, rid)).status_notes == "emptied by crew 4"


async def test_reopening_is_refused_while_another_is_open(conn: asyncpg.Connection) -> None:
    key = await _key(conn, "bin-1")
    alarm = await _alarm(conn, "bin-1")
    first, _ = await open_request_for_alarm(
        conn, service_code="waste-full", device_key=key, alarm_id=alarm, description=""
    )
    await update_request(conn, first, {"status": "closed"}, "ops")
    await open_request_for_alarm(
        conn, service_code="waste-full", device_key=key, alarm_id=alarm, description=""
    )
    async with conn.transaction():
        with pytest.raises(ServiceRequestError, match="another request is open"):
            await update_request(conn, first, {"status": "open"}, "ops")
    with pytest.raises(ServiceRequestError, match="cannot update token"):
        await update_request(conn, first, {"token": "x"}, "ops")
