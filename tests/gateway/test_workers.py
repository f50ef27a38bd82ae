"""`citygate gateway --workers 2`: two processes share the traffic and stop cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import orjson

from ingest.devices import DeviceRecord
from tests.support.broker import Broker
from tests.support.fixtures_data import add_devices
from tests.support.gateway import publish, scheme_for, wait_until


async def test_worker_processes_share_a_subscription_and_stop_on_sigterm(
    database_url: str, broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    await add_devices(database_url, [DeviceRecord(id=f"aq-{i}", profile="air_quality")
                                     for i in range(20)])  # fmt: skip
    env = {
        **os.environ,
        "CITYGATE_DATABASE_URL": database_url,
        "CITYGATE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "CITYGATE_MQTT_CLIENT_ID": f"gw-{topic_prefix}",
        "CITYGATE_TOPIC_PREFIX": f"{topic_prefix}/devices",
    }
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "citygate", "gateway", "--workers", "2",
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        s = scheme_for(topic_prefix)
        t0 = time.time() - 60
        messages = [
            (s.telemetry_topic(f"aq-{i % 20}"),
             orjson.dumps({"ts": t0 + i * 0.01, "values": {"pm25": float(i % 100)}}))
            for i in range(1000)
        ]  # fmt: skip
        # Both workers log "connected" once their subscription is granted.
        for _ in range(600):
            if log.read_text().count(f"as gw-{topic_prefix}-") == 2:
                break
            await asyncio.sleep(0.1)
        await publish(broker.port, messages)
        q = "SELECT count(*) FROM readings"
        assert await wait_until(database_url, q, 1000, timeout=60) == 1000, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, log.read_text()
    assert "started 2 gateway workers" in log.read_text()
