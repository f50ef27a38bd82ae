"""Build an evaluator over in-memory devices and feed it readings, for condition tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from device_profiles import ProfileRegistry
from ingest.feed import Committed
from rules.definition.model import Rule
from rules.evaluation.compile import StoredRule
from rules.evaluation.devices import DeviceInfo, DeviceTable
from rules.evaluation.evaluator import Evaluator
from rules.evaluation.events import AlarmEvent

PROFILES = ProfileRegistry.load()
METRICS = {m: i + 1 for i, m in enumerate(sorted({m for p in PROFILES for m in p.metrics}))}
T0 = 1_780_000_000_000_000  # a fixed device time, in microseconds
MIN = 60_000_000


def rule(text: str, rule_id: int = 1, version: int = 1) -> StoredRule:
    """A stored rule from YAML text."""
    return StoredRule(rule_id, version, Rule.model_validate(yaml.safe_load(text)))


def devices(*specs: tuple[int, str, str] | DeviceInfo) -> DeviceTable:
    """Devices from (key, id, profile) triples or DeviceInfo."""
    return DeviceTable(s if isinstance(s, DeviceInfo) else DeviceInfo(*s) for s in specs)


def evaluator(rules: Sequence[StoredRule], table: DeviceTable, now_us: int = T0) -> Evaluator:
    """A configured evaluator."""
    ev = Evaluator(PROFILES, METRICS)
    ev.configure(rules, table, now_us)
    return ev


def state_index(profile: str, metric: str, state: str) -> float:
    """The stored value of a categorical reading."""
    states = PROFILES.get(profile).metrics[metric].states or ()
    return float(states.index(state))


Reading = tuple[int, int, str, float]  # device key, time (µs), metric, value


def batch(readings: Iterable[Reading]) -> Committed:
    """A committed batch of readings."""
    return Committed.from_readings(
        ((d, t, METRICS[m], v, None) for d, t, m, v in readings), received_us=None
    )


def run(ev: Evaluator, *batches: Iterable[Reading]) -> list[AlarmEvent]:
    """Feed batches in order; returns every event."""
    out: list[AlarmEvent] = []
    for b in batches:
        out += ev.feed(batch(b))
    return out


def brief(events: Iterable[AlarmEvent]) -> list[tuple[Any, ...]]:
    """(subject, kind, minutes after T0) per event."""
    return [(e.subject, e.kind, (e.t_us - T0) / MIN) for e in events]
