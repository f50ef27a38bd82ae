"""Fault injection: each kind at its asked rate (fixed seed, statistical bounds), each
breaking messages the way it says."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest

from device_profiles import DecodeError, Rejection, decode
from device_profiles.topics import TopicScheme
from simulators import CitySimulation, FaultConfig, Outgoing, build_fleet
from simulators.faults import EXTRA, FAULT_KINDS, REPLACING

from .helpers import NOW, REGISTRY

FLEET = build_fleet(REGISTRY, 200, seed=21)
SCHEME = TopicScheme()
RATE = 0.04
CONFIG = FaultConfig.uniform(RATE).with_rates({"offline": 0.02, "clock_skew": 0.2})
TICKS = 60
IDS = {d.id for d in FLEET}
BY_ID = {d.id: d for d in FLEET}


def run(config: FaultConfig = CONFIG) -> list[list[Outgoing]]:
    """Every device reports TICKS times; returns the messages of each tick."""
    sim = CitySimulation(FLEET, SCHEME, config)
    ticks = []
    for k in range(TICKS):
        for d in FLEET:
            t = NOW + k * d.interval_s
            ticks.append(sim.tick(d, t, t))
    return ticks


TICKS_OUT = run()
ALL = [m for tick in TICKS_OUT for m in tick]
PRIMARY = [m for m in ALL if m.fmt != "status" and m.fault not in (*EXTRA, "backfill")]


def within(count: int, n: int, p: float, sds: float = 5.0) -> bool:
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p)) + 1


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        FaultConfig(nan=1.5)
    with pytest.raises(ValueError):
        FaultConfig.uniform(0.2)  # seven replacing kinds at 0.2 exceed one
    with pytest.raises(ValueError):
        FaultConfig().with_rates({"gremlins": 0.1})
    assert not FaultConfig().enabled and CONFIG.enabled
    assert set(CONFIG.rates()) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", REPLACING + EXTRA)
def test_each_kind_at_its_rate(kind: str) -> None:
    n = len(PRIMARY)
    assert n > 10_000
    count = sum(m.fault == kind for m in ALL)
    assert within(count, n, RATE), (kind, count, n * RATE)


def test_clock_skew_share_of_devices_and_offsets() -> None:
    skews = [CONFIG.skew_of(99, k) for k in range(20_000)]
    skewed = [s for s in skews if s]
    assert within(len(skewed), 20_000, 0.2)
    assert all(60 <= abs(s) <= CONFIG.max_skew_s for s in skewed)
    assert any(s < 0 for s in skewed) and any(s > 0 for s in skewed)
    sim = CitySimulation(FLEET, SCHEME, CONFIG)
    device = next(d for d in FLEET if sim.skew(d) and d.fmt == "json")
    msg = next(m for m in sim.tick(device, NOW, NOW) if m.fmt == "json")
    if msg.fault == "clock_skew":
        assert decode("json", msg.payload).time == pytest.approx(NOW + sim.skew(device), abs=1e-3)


def test_offline_rate_status_and_backfill() -> None:
    native = [m for m in PRIMARY if not BY_ID[m.device_id].lorawan]
    offline = [m for m in ALL if m.fault == "offline"]
    assert all(m.payload == b"offline" and m.topic.endswith("/status") for m in offline)
    assert within(len(offline), len(native), 0.02)
    assert sum(m.fault == "backfill" for m in ALL) > len(offline)
    # After an outage a device says it is back, then sends what it buffered.
    comeback = next(t for t in TICKS_OUT if any(m.fault == "backfill" for m in t))
    device = BY_ID[comeback[0].device_id]
    if not device.lorawan:
        assert comeback[0].payload == b"online"
    backfill = [m for m in comeback if m.fault == "backfill"]
    assert all(m.values is not None for m in backfill)


def test_no_sequence_number_is_lost() -> None:
    """Primary and backfilled messages of every device carry 1..n exactly once."""
    seqs: dict[str, list[int]] = defaultdict(list)
    for m in ALL:
        if m.seq is not None and m.fault not in EXTRA and m.device_id in IDS:
            seqs[m.device_id].append(m.seq)
    for device_id, got in seqs.items():
        assert sorted(got) == list(range(1, len(got) + 1)), device_id
        assert got == sorted(got)  # backfill comes before the next new reading


def _profile(m: Outgoing) -> str:
    return BY_ID[m.device_id].profile


def test_broken_payloads_are_broken_as_announced() -> None:
    by_kind: dict[str, list[Outgoing]] = defaultdict(list)
    for m in ALL:
        if m.fault:
            by_kind[m.fault].append(m)
    for m in by_kind["malformed_json"]:
        with pytest.raises(DecodeError):
            decode(m.fmt, m.payload, REGISTRY.get(_profile(m)))
    for m in by_kind["nan"]:
        assert b"NaN" in m.payload or b"Infinity" in m.payload
    for m in by_kind["oversize"]:
        assert len(m.payload) > 16 * 1024
    for kind, code in (("wrong_type", "wrong_type"), ("out_of_range", "out_of_range")):
        codes: Counter[str] = Counter()
        for m in by_kind[kind]:
            decoded = decode(m.fmt, m.payload, REGISTRY.get(_profile(m)))
            compiled = REGISTRY.compiled(_profile(m))
            checks = [compiled.check(n, v) for n, _, v in decoded.readings]
            codes.update(c.code for c in checks if isinstance(c, Rejection))
            codes.update("decode" for _ in decoded.errors)
            assert any(isinstance(c, Rejection) for c in checks) or decoded.errors, m
        assert codes[code] > 0.5 * len(by_kind[kind])
    for kind in ("future_timestamp", "ancient_timestamp"):
        for m in by_kind[kind]:
            t = decode(m.fmt, m.payload, REGISTRY.get(_profile(m))).time
            assert t is not None
            assert t > NOW + 86_000 if kind == "future_timestamp" else t < 1_262_304_001


def test_extra_messages_do_what_they_say() -> None:
    history: dict[str, set[bytes]] = defaultdict(set)
    for tick in TICKS_OUT:
        primary = next((m for m in tick if m.fault not in (*EXTRA, "backfill", "offline")
                        and m.fmt != "status"), None)  # fmt: skip
        for m in tick:
            if m.fault == "duplicate":
                assert primary is not None and m.payload == primary.payload
                assert m.topic == primary.topic
            elif m.fault == "replay":
                assert m.payload in history[m.device_id]
            elif m.fault == "unknown_device":
                assert m.device_id not in IDS and m.device_id.startswith("ghost-")
                route = SCHEME.parse(m.topic)
                assert route.device_ref not in IDS
            elif m.fault == "wrong_topic":
                route = SCHEME.parse(m.topic)
                claimed = decode(m.fmt, m.payload, REGISTRY.get(_profile(m))).device_id
                assert route.device_ref != claimed
            elif m.fmt != "status":
                history[m.device_id].add(m.payload)


def test_no_faults_without_config() -> None:
    sim = CitySimulation(FLEET, SCHEME)
    out = [m for d in FLEET for k in range(3) for m in sim.tick(d, NOW + k * 900, NOW)]
    assert {m.fault for m in out} == {None}
