"""The gateway end to end: real Mosquitto, real PostgreSQL + TimescaleDB."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import replace

import asyncpg
import orjson

from device_profiles import codec_for
from ingest.devices import DeviceRecord
from tests.support.broker import Broker
from tests.support.fixtures_data import add_devices
from tests.support.gateway import (
    PROFILES,
    config_for,
    publish,
    running_gateway,
    scheme_for,
    wait_until,
)

DEVICES = [
    DeviceRecord(id="aq-1", profile="air_quality", district="centre", lat=48.1, lon=11.5),
    DeviceRecord(id="noise-1", profile="noise"),
    DeviceRecord(id="park-1", profile="parking_spot"),
    DeviceRecord(id="bin-1", profile="waste_container", attributes={"dev_eui": "70B3D57ED0001234"}),
    DeviceRecord(id="light-1", profile="streetlight"),
    DeviceRecord(id="aq-off", profile="air_quality", enabled=False),
]


def native(device: str, values: dict[str, object], ts: float | None = None, seq: int = 1) -> bytes:
    return orjson.dumps({"id": device, "ts": ts or time.time() - 1, "seq": seq, "values": values})


def ttn_uplink(device: str, frame: bytes, f_cnt: int) -> bytes:
    return orjson.dumps(
        {
            "end_device_ids": {"device_id": device, "application_ids": {"application_id": "city"}},
            "received_at": "2026-11-25T11:59:58.5Z",
            "uplink_message": {
                "f_port": 1,
                "f_cnt": f_cnt,
                "frm_payload": base64.b64encode(frame).decode(),
                "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2)),
            },
        }
    )


def chirpstack_up(dev_eui: str, frame: bytes, f_cnt: int) -> bytes:
    return orjson.dumps(
        {
            "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(time.time() - 3)),
            "deviceInfo": {"deviceName": "Bin at the market", "devEui": dev_eui},
            "fCnt": f_cnt,
            "fPort": 1,
            "data": base64.b64encode(frame).decode(),
        }
    )


async def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


READINGS_BY_DEVICE = """
SELECT d.id, m.name, r.value, r.state FROM reading_values r
JOIN devices d USING (device_key) JOIN metrics m USING (metric_id)
ORDER BY d.id, m.name
"""


async def test_every_format_is_decoded_and_stored(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    await add_devices(database_url, DEVICES)
    s = scheme_for(topic_prefix)
    park = codec_for(PROFILES.get("parking_spot"))
    waste = codec_for(PROFILES.get("waste_container"))
    assert park is not None and waste is not None
    senml = orjson.dumps(
        [{"bn": "urn:dev:ow:noise-1:", "bt": time.time() - 1, "n": "LAeq", "u": "dB", "v": 61.5}]
    )
    messages = [
        (s.telemetry_topic("aq-1"), native("aq-1", {"pm25": 12.5, "no2": 31.0})),
        (s.telemetry_topic("noise-1", "senml"), senml),
        (f"{topic_prefix}/v3/city@ttn/devices/park-1/up",
         ttn_uplink("park-1", park.encode({"status": "occupied", "batteryLevel": 87}), 5)),
        (f"{topic_prefix}/application/7/device/70b3d57ed0001234/event/up",
         chirpstack_up("70B3D57ED0001234", waste.encode(
             {"fillingLevel": 64, "temperature": 21, "status": "ok", "batteryLevel": 90}), 9)),
        (s.telemetry_topic("light-1"), native("light-1", {"powerState": "on"})),
    ]  # fmt: skip
    async with running_gateway(config_for(database_url, broker.port, topic_prefix)):
        await publish(broker.port, messages)
        stored = await wait_until(database_url, "SELECT count(*) FROM reading_values", 10)
    assert stored == 10
    rows = {(r["id"], r["name"]): (r["value"], r["state"]) for r in await _fetch(
        database_url, READINGS_BY_DEVICE)}  # fmt: skip
    assert rows[("aq-1", "pm25")] == (12.5, None)
    assert rows[("noise-1", "LAeq")] == (61.5, None)
    assert rows[("park-1", "status")] == (1.0, "occupied")
    assert rows[("park-1", "batteryLevel")] == (87.0, None)
    assert rows[("bin-1", "fillingLevel")] == (64.0, None)
    assert rows[("bin-1", "status")] == (0.0, "ok")
    assert rows[("light-1", "powerState")] == (1.0, "on")
    assert not await _fetch(database_url, "SELECT * FROM quarantine")


async def test_bad_input_is_quarantined_and_good_input_around_it_is_kept(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    await add_devices(database_url, DEVICES)
    s = scheme_for(topic_prefix)
    t = s.telemetry_topic
    good = [(t("aq-1"), native("aq-1", {"pm25": float(i)}, ts=time.time() - 60 + i, seq=i))
            for i in range(1, 11)]  # fmt: skip
    bad = [
        (t("aq-1"), b"{not json"),
        (t("ghost-1"), native("ghost-1", {"pm25": 1.0})),
        (t("aq-off"), native("aq-off", {"pm25": 1.0})),
        (t("aq-1"), native("light-1", {"pm25": 1.0})),  # a device speaking for another
        (t("aq-1"), b'{"values": {"pm25": NaN, "no2": 40}}'),
        (t("aq-1"), native("aq-1", {"pm25": 99999.0})),
        (t("aq-1"), native("aq-1", {"pm25": 1.0}, ts=time.time() + 86400)),
        (t("aq-1"), native("aq-1", {"pm25": 1.0}, ts=time.time() - 30 * 86400)),
        (t("aq-1"), b"{" + b" " * 20000 + b"}"),
    ]
    expected_codes = {
        "malformed", "unknown_device", "device_disabled", "id_mismatch", "nan",
        "out_of_range", "future_timestamp", "stale_timestamp", "oversize",
    }  # fmt: skip
    mixed = [m for pair in zip(good, bad, strict=False) for m in pair] + good[len(bad) :]
    async with running_gateway(config_for(database_url, broker.port, topic_prefix)):
        await publish(broker.port, mixed)
        # ten good readings plus the no2 that came with the NaN
        assert await wait_until(database_url, "SELECT count(*) FROM reading_values", 11) == 11
        assert await wait_until(database_url, "SELECT count(*) FROM quarantine", 9) == 9
    rows = await _fetch(database_url, "SELECT reason_code, reason, topic FROM quarantine")
    assert {r["reason_code"] for r in rows} == expected_codes
    assert all(r["reason"] for r in rows)


async def test_a_redelivered_message_is_stored_once(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    await add_devices(database_url, DEVICES)
    msg = (scheme_for(topic_prefix).telemetry_topic("aq-1"), native("aq-1", {"pm25": 5, "o3": 7}))
    async with running_gateway(config_for(database_url, broker.port, topic_prefix)) as gw:
        await publish(broker.port, [msg, msg])
        await publish(broker.port, [msg])
        dup = gw.writer_metrics.duplicates
        for _ in range(200):
            if dup._value.get() == 4:
                break
            await asyncio.sleep(0.05)
        assert dup._value.get() == 4
    assert await wait_until(database_url, "SELECT count(*) FROM reading_values", 2) == 2


async def test_registry_follows_changes_without_restart(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    topic = scheme_for(topic_prefix).telemetry_topic("late-1")
    async with running_gateway(config_for(database_url, broker.port, topic_prefix)):
        await publish(broker.port, [(topic, native("late-1", {"pm25": 1}, seq=1))])
        assert (
            await wait_until(
                database_url,
                "SELECT count(*) FROM quarantine WHERE reason_code = 'unknown_device'",
                1,
            )
            == 1
        )
        await add_devices(database_url, [DeviceRecord(id="late-1", profile="air_quality")])
        # Registered while the gateway runs: the next message is accepted.
        for seq in range(2, 40):
            await publish(broker.port, [(topic, native("late-1", {"pm25": seq}, seq=seq))])
            if await wait_until(
                database_url, "SELECT count(*) FROM reading_values", 1, timeout=0.2
            ):
                break
        assert await wait_until(database_url, "SELECT count(*) > 0 FROM reading_values", True)


async def test_auto_provisioning_stores_the_first_message(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    topic = scheme_for(topic_prefix).telemetry_topic("new-7")
    cfg = config_for(database_url, broker.port, topic_prefix, auto_provision_profile="air_quality")
    async with running_gateway(cfg):
        await publish(broker.port, [(topic, native("new-7", {"pm25": 3.5}))])
        assert await wait_until(database_url, "SELECT count(*) FROM reading_values", 1) == 1
    [dev] = await _fetch(database_url, "SELECT id, profile, attributes FROM devices")
    assert (dev["id"], dev["profile"]) == ("new-7", "air_quality")
    assert not await _fetch(database_url, "SELECT * FROM quarantine")


async def test_status_from_last_will_and_from_messages(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    await add_devices(database_url, DEVICES)
    s = scheme_for(topic_prefix)
    status_q = "SELECT status FROM devices WHERE id = $1"
    async with running_gateway(config_for(database_url, broker.port, topic_prefix)):
        await publish(broker.port, [(s.telemetry_topic("aq-1"), native("aq-1", {"pm25": 1}))])
        assert await wait_until(database_url, status_q, "online", "aq-1") == "online"
        seen_q = "SELECT last_seen IS NOT NULL FROM devices WHERE id = $1"
        assert await wait_until(database_url, seen_q, True, "aq-1") is True
        await asyncio.to_thread(_die_with_last_will, broker.port, s.status_topic("aq-1"))
        assert await wait_until(database_url, status_q, "offline", "aq-1") == "offline"


def _die_with_last_will(port: int, will_topic: str) -> None:
    """A device connects with a last will and then vanishes without DISCONNECT."""
    import socket

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.will_set(will_topic, b"offline", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for _ in range(100):
            if client.is_connected():
                break
            time.sleep(0.02)
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        time.sleep(0.2)
    finally:
        client.loop_stop()


async def test_two_gateways_share_the_load_on_a_shared_subscription(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    """The scale-out path: two gateway workers in one MQTT v5 shared group each get part
    of the traffic, and together store every message exactly once."""
    await add_devices(database_url, DEVICES)
    topic = scheme_for(topic_prefix).telemetry_topic("aq-1")
    base = config_for(database_url, broker.port, topic_prefix, shared_group="workers")
    one = base
    two = replace(base, mqtt=replace(base.mqtt, client_id=base.mqtt.client_id + "-2"))
    t0 = time.time() - 600
    messages = [(topic, native("aq-1", {"pm25": float(i % 500)}, ts=t0 + i * 0.01, seq=i + 1))
                for i in range(2000)]  # fmt: skip
    async with running_gateway(one) as gw1, running_gateway(two) as gw2:
        await publish(broker.port, messages)
        stored = await wait_until(database_url, "SELECT count(*) FROM readings", 2000)
        per_worker = [g.writer_metrics.readings_stored._value.get() for g in (gw1, gw2)]
        received = [g.metrics.messages._value.get() for g in (gw1, gw2)]
    q = await _fetch(database_url, "SELECT reason_code, count(*) FROM quarantine GROUP BY 1")
    assert stored == 2000, (per_worker, received, q)
    assert sum(per_worker) == 2000
    assert min(per_worker) > 0, per_worker
