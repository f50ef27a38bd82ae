"""The naive gateway the benchmark compares against: what one writes first.

paho-mqtt subscriber, QoS 1 with a persistent session, one INSERT (own transaction) per
message, acknowledged by paho once the callback returns, i.e. after the commit. It
stores into the same schema as citygate and does the same dedup (ON CONFLICT DO NOTHING),
but no validation beyond JSON parsing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["create_session", "run_naive"]

_INSERT = (
    "INSERT INTO readings (time, device_key, metric_ids, vals, received_at) "
    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT DO NOTHING"
)


def _client(client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    return client


def _connect(client: mqtt.Client, port: int) -> None:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)


def create_session(port: int, client_id: str, topic: str) -> None:
    """Subscribe once and leave, so the broker queues messages for this session."""
    client = _client(client_id)
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    _connect(client, port)
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()


def run_naive(
    port: int,
    client_id: str,
    topic: str,
    database_url: str,
    expected: int,
    measured: Callable[[float], None] = lambda seconds: None,
) -> float:
    """Drain ``expected`` messages; returns the seconds it took. ``measured(seconds)`` is
    called before the database connection closes (so its CPU time can be read)."""
    db = psycopg.connect(database_url, autocommit=True)
    keys: dict[str, int] = dict(db.execute("SELECT id, device_key FROM devices").fetchall())
    metric_ids: dict[str, int] = dict(db.execute("SELECT name, metric_id FROM metrics").fetchall())
    count = 0
    finished = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal count
        body = json.loads(msg.payload)
        values = body["values"]
        db.execute(
            _INSERT,
            (
                datetime.fromtimestamp(body["ts"], UTC),
                keys[body["id"]],
                [metric_ids[m] for m in values],
                list(values.values()),
            ),
        )
        count += 1
        if count >= expected:
            finished.set()

    client = _client(client_id)
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    started = time.perf_counter()
    _connect(client, port)
    client.loop_start()
    finished.wait(3600)
    elapsed = time.perf_counter() - started
    measured(elapsed)
    client.disconnect()
    client.loop_stop()
    db.close()
    return elapsed
