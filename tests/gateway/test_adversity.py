"""What must survive: a gateway killed mid-flood, a database connection cut, a device
speaking for another. Real Mosquitto, real PostgreSQL; nothing mocked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiomqtt
import asyncpg
import orjson

from ingest.devices import DeviceRecord
from simulators.load import run_load
from tests.support.broker import Broker, private_broker
from tests.support.fixtures_data import add_devices
from tests.support.gateway import config_for, publish, running_gateway, scheme_for, wait_until
from tests.support.tcpproxy import TcpProxy

N_DEVICES = 100
ROWS_PER_DEVICE = """
SELECT d.id, count(r.*) FROM devices d LEFT JOIN readings r USING (device_key)
GROUP BY d.id
"""


async def _rows_per_device(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {r["id"]: r["count"] for r in await conn.fetch(ROWS_PER_DEVICE)}
    finally:
        await conn.close()


async def _register_load_devices(url: str) -> None:
    await add_devices(
        url, [DeviceRecord(id=f"load-{k + 1:05d}", profile="air_quality") for k in range(N_DEVICES)]
    )


def _gateway_process(
    url: str, port: int, prefix: str, client_id: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CITYGATE_DATABASE_URL": url,
        "CITYGATE_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "CITYGATE_MQTT_CLIENT_ID": client_id,
        "CITYGATE_TOPIC_PREFIX": f"{prefix}/devices",
        "CITYGATE_BATCH_MAX_MESSAGES": "300",
        "CITYGATE_LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "citygate", "gateway"], env=env, stderr=out, stdout=out
        )


async def test_gateway_killed_mid_flood_loses_nothing_acknowledged(
    database_url: str, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    """SIGKILL while a QoS 1 flood is being ingested; after a restart every message sent
    is stored exactly once (one row per message, counted per device against the
    sequence numbers the publisher assigned)."""
    await _register_load_devices(database_url)
    client_id = f"gw-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "gateway.log"
    gw = _gateway_process(database_url, broker.port, topic_prefix, client_id, log)
    try:
        probe = (f"{topic_prefix}/devices/load-00001/telemetry",
                 orjson.dumps({"values": {"pm25": 1.0}, "ts": 1_000_000.0}))  # fmt: skip
        # The probe's timestamp is far in the past: it only proves the gateway is up.
        for _ in range(100):
            await publish(broker.port, [probe])
            q = "SELECT count(*) > 0 FROM quarantine"
            if await wait_until(database_url, q, True, timeout=0.3):
                break
        load = asyncio.create_task(
            run_load(N_DEVICES, 4000.0, count=16_000, port=broker.port,
                     scheme=scheme_for(topic_prefix), processes=1)
        )  # fmt: skip
        # Kill it once a good part of the flood is stored, i.e. with batches in flight.
        q = "SELECT count(*) >= 4000 FROM readings"
        assert await wait_until(database_url, q, True, timeout=60), log.read_text()
        gw.send_signal(signal.SIGKILL)
        gw.wait(10)
        gw = _gateway_process(database_url, broker.port, topic_prefix, client_id, log)
        result = await load
        assert result.sent == 16_000 and not result.unacked
        q = "SELECT count(*) FROM readings"
        assert await wait_until(database_url, q, result.sent, timeout=60) == result.sent
        stored = await _rows_per_device(database_url)
        assert {d: stored[d] for d in result.per_device} == result.per_device
    finally:
        gw.terminate()
        gw.wait(20)


async def test_database_connection_cut_during_flood(
    database_url: str, broker: Broker, topic_prefix: str
) -> None:
    """The gateway's database connections are dropped, and refused for a while, in the
    middle of a flood: acknowledgements stop, nothing is lost, ingestion resumes alone."""
    await _register_load_devices(database_url)
    parts = urlsplit(database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    try:
        via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        cfg = config_for(via_proxy, broker.port, topic_prefix, batch_max_messages=200)
        async with running_gateway(cfg):
            connections_before = proxy.connections
            load = asyncio.create_task(
                run_load(N_DEVICES, 3000.0, count=12_000, port=broker.port,
                         scheme=scheme_for(topic_prefix), processes=1)
            )  # fmt: skip
            for _ in range(3):
                await asyncio.sleep(0.8)
                proxy.refusing = True
                proxy.cut()
                await asyncio.sleep(1.0)  # an outage: no connection can be made
                proxy.refusing = False
            result = await load
            q = "SELECT count(*) FROM readings"
            assert await wait_until(database_url, q, result.sent, timeout=60) == result.sent
            # The cuts were felt: every connection was dropped and made again.
            assert proxy.connections > connections_before
            assert proxy.refused > 0
        stored = await _rows_per_device(database_url)
        assert {d: stored[d] for d in result.per_device} == result.per_device
    finally:
        await proxy.close()


def _acl_broker_config(directory: Path, prefix: str) -> str:
    passwords = directory / "passwords"
    for i, user in enumerate(("aq-1", "aq-2", "citygate")):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *create, str(passwords), user, f"{user}-secret"],
            check=True, capture_output=True,
        )  # fmt: skip
    acl = directory / "acl"
    acl.write_text(f"user citygate\ntopic read {prefix}/#\n\npattern write {prefix}/devices/%u/#\n")
    return f"password_file {passwords}\nacl_file {acl}\n"


async def test_a_device_cannot_publish_as_another(
    database_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    """The broker's ACL (per-device credentials, `pattern write devices/%u/#`) stops a
    device writing to another's topic; the gateway refuses a payload naming another id."""
    await add_devices(database_url, [DeviceRecord(id=d, profile="air_quality")
                                     for d in ("aq-1", "aq-2")])  # fmt: skip
    extra = _acl_broker_config(tmp_path, topic_prefix)
    with private_broker(anonymous=False, extra=extra) as acl_broker:
        cfg = config_for(database_url, acl_broker.port, topic_prefix)
        cfg = replace(cfg, mqtt=replace(cfg.mqtt, username="citygate", password="citygate-secret"))
        s = scheme_for(topic_prefix)

        def body(device: str, value: float) -> bytes:
            return orjson.dumps({"id": device, "values": {"pm25": value}})

        def device() -> aiomqtt.Client:
            return aiomqtt.Client(
                "127.0.0.1", acl_broker.port, username="aq-1", password="aq-1-secret",
                protocol=aiomqtt.ProtocolVersion.V5,
            )  # fmt: skip

        async with running_gateway(cfg):
            # Mosquitto refuses the write (and may drop the connection): either way the
            # message never reaches the gateway.
            await asyncio.to_thread(
                _publish_as, acl_broker.port, "aq-1", s.telemetry_topic("aq-2"), body("aq-2", 66.0)
            )
            async with device() as aq1:
                await aq1.publish(s.telemetry_topic("aq-1"), body("aq-2", 77.0), qos=1)
                await aq1.publish(s.telemetry_topic("aq-1"), body("aq-1", 11.0), qos=1)
            q = "SELECT count(*) FROM quarantine WHERE reason_code = 'id_mismatch'"
            assert await wait_until(database_url, q, 1) == 1
            assert await wait_until(database_url, "SELECT count(*) FROM readings", 1) == 1
        stored = await _rows_per_device(database_url)
        assert stored == {"aq-1": 1, "aq-2": 0}


def _publish_as(port: int, user: str, topic: str, payload: bytes) -> None:
    """Publish with a device's credentials, whatever the broker answers."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, f"{user}-secret")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()
