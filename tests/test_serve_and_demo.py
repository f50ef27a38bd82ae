"""`citygate serve` and `citygate demo` as a newcomer runs them: real processes, a real
HTTP server, a real broker and database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import orjson

from ingest.devices import DeviceRecord
from tests.support.broker import Broker, free_port
from tests.support.fixtures_data import add_devices
from tests.support.gateway import publish, wait_until


def _env(database_url: str, broker: Broker, prefix: str, api_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CITYGATE_DATABASE_URL": database_url,
        "CITYGATE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "CITYGATE_MQTT_CLIENT_ID": f"gw-{prefix}",
        "CITYGATE_TOPIC_PREFIX": f"{prefix}/devices",
        "CITYGATE_TTN_TOPIC_PREFIX": f"{prefix}/v3",
        "CITYGATE_CHIRPSTACK_TOPIC_PREFIX": f"{prefix}/application",
        "CITYGATE_API_PORT": str(api_port),
    }


async def _get(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return await client.get(url, timeout=2)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def test_serve_ingests_and_answers_health_readiness_and_metrics(
    database_url: str, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "citygate", "serve",
            env=_env(database_url, broker, topic_prefix, port), stdout=out, stderr=out,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        assert (await _get(f"{base}/healthz")).json() == {"status": "ok"}
        for _ in range(100):
            ready = await _get(f"{base}/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert ready.json() == {"ready": True, "checks": {"database": "ok", "broker": "ok"}}
        payload = orjson.dumps({"values": {"pm25": 4.5}, "ts": time.time() - 1})
        await publish(broker.port, [(f"{topic_prefix}/devices/aq-1/telemetry", payload)])
        q = "SELECT count(*) FROM readings"
        assert await wait_until(database_url, q, 1) == 1, log.read_text()
        metrics = (await _get(f"{base}/metrics")).text
        assert "citygate_readings_stored_total 1.0" in metrics
        assert "citygate_messages_received_total 1.0" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, log.read_text()


async def test_demo_runs_a_city_end_to_end(
    empty_database_url: str, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    env = _env(empty_database_url, broker, topic_prefix, free_port())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "citygate", "demo", "--devices", "60", "--speed", "600",
        "--duration", "8",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "demo city: 60 devices" in text
    assert "service up at http://" in text and "/open311/v2/requests.json" in text
    assert "9 rules from" in text and "| alarms " in text
    stored = await wait_until(
        empty_database_url, "SELECT count(*) > 0 FROM readings", True, timeout=1
    )
    assert stored is True, text
    # The example rules and the service types their actions name are installed.
    q = "SELECT count(*) FROM rules r WHERE r.source = 'demo'"
    assert await wait_until(empty_database_url, q, 9, timeout=1) == 9
    q = "SELECT count(*) FROM service_types WHERE service_code = ANY('{waste-full,flooding}')"
    assert await wait_until(empty_database_url, q, 2, timeout=1) == 2
