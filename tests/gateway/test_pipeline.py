"""The hot path in memory: every rejection reason, partial messages, sequence gaps."""

from __future__ import annotations

import time

import orjson
import pytest
from prometheus_client import CollectorRegistry

from device_profiles import ProfileRegistry
from device_profiles.topics import TopicScheme
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Limits, Pipeline, ProvisionRequest
from gateway.registry import DeviceRegistry
from gateway.status import OFFLINE, ONLINE, StatusTracker
from ingest.devices import DeviceRow

PROFILES = ProfileRegistry.load()
METRIC_IDS = {m: i for i, m in enumerate(sorted({m for p in PROFILES for m in p.metrics}), 1)}
LIMITS = Limits(max_payload_bytes=1024, max_future_skew_s=60, max_past_age_s=3600)


def _pipeline(
    provision: object = None, limits: Limits = LIMITS
) -> tuple[Pipeline, StatusTracker, GatewayMetrics, list[list[int]]]:
    registry = DeviceRegistry(PROFILES)
    for key, (dev, profile, enabled) in enumerate(
        [
            ("aq-1", "air_quality", True),
            ("aq-off", "air_quality", False),
            ("light-1", "streetlight", True),
            ("odd-1", "no_such_profile", True),
        ],
        1,
    ):
        registry.put(DeviceRow(key, dev, profile, enabled, {}, "centre", 48.1, 11.5))
    metrics = GatewayMetrics(CollectorRegistry())
    status = StatusTracker(registry, metrics)
    acked: list[list[int]] = []
    pipeline = Pipeline(
        TopicScheme(), registry, METRIC_IDS, limits, metrics, status,
        on_commit=acked.append, provision=provision,  # type: ignore[arg-type]
    )  # fmt: skip
    return pipeline, status, metrics, acked


def _msg(values: dict[str, object], **extra: object) -> bytes:
    return orjson.dumps({"values": values, **extra}, option=orjson.OPT_SERIALIZE_NUMPY)


def _now_us() -> int:
    return time.time_ns() // 1000


def test_good_message_becomes_readings_and_waits_for_commit() -> None:
    p, status, _, _ = _pipeline()
    now = time.time()
    p.handle(
        "devices/aq-1/telemetry",
        _msg({"pm25": 12.5, "no2": 30}, id="aq-1", ts=now - 5, seq=1),
        7,
        _now_us(),
    )
    batch = p.batch
    assert len(batch) == 2 and not batch.quarantine
    assert batch.acks == [7]
    readings = list(batch.iter_readings())
    assert sorted(r[3] for r in readings) == [12.5, 30.0]
    assert all(abs(r[0] / 1e6 - (now - 5)) < 1e-3 for r in readings)
    assert status.status[1] == ONLINE


@pytest.mark.parametrize(
    ("topic", "payload", "code", "reason"),
    [
        ("$SYS/broker/load", b"{}", "bad_topic", "system topic"),
        ("devices/a+b/telemetry", b"{}", "bad_topic", "forbidden character '+'"),
        ("devices/aq-1/telemetry/xml", b"{}", "bad_topic", "unknown payload format 'xml'"),
        ("other/aq-1/telemetry", b"{}", "bad_topic", "not part of the topic scheme"),
        ("devices/ghost-9/telemetry", _msg({"pm25": 1}), "unknown_device", "not registered"),
        ("devices/aq-off/telemetry", _msg({"pm25": 1}), "device_disabled", "is disabled"),
        ("devices/odd-1/telemetry", _msg({"pm25": 1}), "unknown_profile", "no_such_profile"),
        ("devices/aq-1/telemetry", b'{"values": {"pm25": 1', "malformed", ""),
        ("devices/aq-1/telemetry", b"[1, 2]", "malformed", ""),
        ("devices/aq-1/telemetry", _msg({"pm25": 1}, id="aq-2"), "id_mismatch", "claims"),
        ("devices/aq-1/telemetry", b'{"values": {"pm25": NaN}}', "nan", "NaN is not"),
        ("devices/aq-1/telemetry", b'{"values": {"pm25": -Infinity}}', "infinity", "Infinity"),
        ("devices/aq-1/telemetry", b'{"values": {"pm25": null}}', "wrong_type", "NoneType"),
        ("devices/aq-1/telemetry", _msg({"pm25": 5000}), "out_of_range", "outside valid range"),
        ("devices/aq-1/telemetry", _msg({"pm25": "high"}), "wrong_type", "expected number"),
        ("devices/aq-1/telemetry", _msg({"pm25": True}), "wrong_type", "expected number"),
        ("devices/aq-1/telemetry", _msg({"colour": 3}), "unknown_metric", "unknown metric"),
        ("devices/light-1/telemetry", _msg({"powerState": "dim"}), "unknown_state", "dim"),
        ("devices/aq-1/telemetry", _msg({"pm25": 1}, ts=time.time() + 3600), "future_timestamp",
         "in the future"),
        ("devices/aq-1/telemetry", _msg({"pm25": 1}, ts=time.time() - 86400), "stale_timestamp",
         "older than"),
        ("devices/aq-1/telemetry", _msg({}), "empty", "no readings"),
        ("devices/aq-1/telemetry", b"x" * 2000, "oversize", "exceeds the limit of 1024 bytes"),
        ("devices/aq-1/status", b"sleepy", "bad_status", "online' or 'offline"),
    ],
)  # fmt: skip
def test_each_rejection_is_quarantined_with_its_reason(
    topic: str, payload: bytes, code: str, reason: str
) -> None:
    p, _, metrics, _ = _pipeline()
    p.handle(topic, payload, 3, _now_us())
    batch = p.batch
    assert len(batch) == 0
    assert batch.acks == [3]  # acknowledged once the quarantine row is committed
    [row] = batch.quarantine
    assert row.reason_code == code
    assert reason in row.reason
    assert row.topic == topic
    assert row.payload == payload[:1024]
    assert metrics.rejected.labels(code)._value.get() == 1


def test_partial_message_keeps_good_readings_and_quarantines_the_rest() -> None:
    p, _, metrics, _ = _pipeline()
    payload = b'{"values": {"pm25": 10, "no2": -5, "o3": NaN, "temperature": 21.5}}'
    p.handle("devices/aq-1/telemetry", payload, 1, _now_us())
    assert sorted(r[3] for r in p.batch.iter_readings()) == [10.0, 21.5]
    [row] = p.batch.quarantine
    assert row.reason_code == "out_of_range"
    assert "no2: value -5" in row.reason and "o3: NaN" in row.reason
    assert metrics.rejected.labels("nan")._value.get() == 1


def test_states_are_stored_with_their_name() -> None:
    p, _, _, _ = _pipeline()
    p.handle("devices/light-1/telemetry", _msg({"powerState": "on"}), 1, _now_us())
    assert [(r[3], r[4]) for r in p.batch.iter_readings()] == [(1.0, "on")]


def test_sequence_gaps_are_counted() -> None:
    p, _, metrics, _ = _pipeline()
    for seq in (1, 2, 5, 5, 6):
        p.handle("devices/aq-1/telemetry", _msg({"pm25": 1}, seq=seq, ts=time.time() - seq), 1,
                 _now_us())  # fmt: skip
    assert metrics.sequence_gaps._value.get() == 2


def test_status_topic_sets_status() -> None:
    p, status, _, _ = _pipeline()
    p.handle("devices/aq-1/status", b"offline", 1, _now_us())
    assert status.status[1] == OFFLINE
    assert status.take_changes()[1][0] == OFFLINE


def test_silence_beyond_the_interval_marks_a_device_offline() -> None:
    p, status, _, _ = _pipeline()
    p.handle("devices/aq-1/telemetry", _msg({"pm25": 1}), 1, _now_us())
    status.take_changes()
    assert status.sweep(time.time() + 300 * 2) == 0  # air_quality reports every 300 s
    assert status.sweep(time.time() + 300 * 3) == 1
    assert status.status[1] == OFFLINE


def test_unknown_device_is_held_for_provisioning_when_enabled() -> None:
    held: list[tuple[str, ProvisionRequest]] = []

    def provision(ref: str, req: ProvisionRequest) -> bool:
        held.append((ref, req))
        return True

    p, _, _, _ = _pipeline(provision=provision)
    p.handle("devices/new-1/telemetry", _msg({"pm25": 1}), 9, _now_us())
    assert [ref for ref, _ in held] == ["new-1"]
    assert p.batch.acks == [] and not p.batch.quarantine  # not acknowledged while held


def test_qos0_messages_are_dropped_and_counted_past_the_bound() -> None:
    p, _, metrics, _ = _pipeline(limits=Limits(max_pending_messages=3))
    for _ in range(5):
        p.handle("devices/aq-1/telemetry", _msg({"pm25": 1}), None, _now_us())
    assert p.batch.messages == 3
    assert metrics.overload_dropped._value.get() == 2


def test_a_full_batch_is_set_aside_so_no_commit_exceeds_the_batch_size() -> None:
    registry = DeviceRegistry(PROFILES)
    registry.put(DeviceRow(1, "aq-1", "air_quality", True, {}, None, None, None))
    metrics = GatewayMetrics(CollectorRegistry())
    full: list[int] = []
    p = Pipeline(
        TopicScheme(), registry, METRIC_IDS, LIMITS, metrics, StatusTracker(registry, metrics),
        on_full=lambda: full.append(1), full_at=2,
    )  # fmt: skip
    for token in range(5):
        p.handle("devices/aq-1/telemetry", _msg({"pm25": token}), token, _now_us())
    assert len(full) == 2 and p.has_full() and p.pending_messages() == 5
    assert [p.take().acks for _ in range(3)] == [[0, 1], [2, 3], [4]]
    assert not p.has_full() and p.pending_messages() == 0
