"""Rebuilding evaluation state from stored history and the alarms table, after a
restart or a rule change: replay the readings the rules' durations and windows can
still need, then reconcile what the replay concluded with the alarms that are stored, so
that a restart neither loses an active alarm nor raises one twice."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np

from device_profiles import ProfileRegistry
from ingest.db import Conn

from .actions.alarms import to_dt
from .definition.model import Consecutive, NoData, Rate, Rule, StateIs, Threshold, Window
from .evaluation.compile import ANY_METRIC, StoredRule
from .evaluation.devices import DeviceTable
from .evaluation.evaluator import Evaluator
from .evaluation.events import AlarmEvent
from .history import read_history

log = logging.getLogger(__name__)

__all__ = ["Restored", "lookback_us", "rebuild"]

_MARGIN_US = 10 * 60 * 1_000_000


def lookback_us(rule: Rule, profiles: ProfileRegistry) -> int:
    """How much history the rule's state can depend on."""
    interval = max((p.reporting_interval_s for p in profiles), default=3600) * 1_000_000
    if rule.scope.profile is not None and rule.scope.profile in profiles:
        interval = profiles.get(rule.scope.profile).reporting_interval_s * 1_000_000
    need = getattr(rule.condition, "for_", 0) or 0
    for leaf in rule.leaves():
        if isinstance(leaf, Threshold | Rate | Window | StateIs):
            need = max(need, leaf.for_, leaf.clear_for)
        if isinstance(leaf, Window):
            need = max(need, leaf.window + leaf.for_)
        if isinstance(leaf, Rate):
            need = max(need, leaf.for_ + interval)
        if isinstance(leaf, Consecutive):
            need = max(need, max(leaf.count, leaf.clear_count) * interval)
        if isinstance(leaf, NoData):
            need = max(need, interval)
    return int(need) + _MARGIN_US


@dataclass(slots=True)
class Restored:
    """A rebuilt evaluator and the alarm events it found missing from the table."""

    evaluator: Evaluator
    missed: list[AlarmEvent]
    replayed: int
    kept_active: int


async def _seed_no_data(conn: Conn, ev: Evaluator) -> None:
    """No-data clocks start when each device's (metric's) last stored reading was
    received: the device's receive time, less how much older the metric's reading is
    than the device's newest (receive times are kept per device, not per metric)."""
    comp = ev.compiled
    if comp.n_slots == 0:
        return
    nd = np.flatnonzero(comp.p["kind"][comp.slot_leaf] == 5)
    if not len(nd):
        return
    keys = sorted(set(comp.slot_device[nd].tolist()))
    rows = await conn.fetch(
        "SELECT v.device_key, v.metric_id, v.received_at - (l.time - v.time) AS seen "
        "FROM latest_values v JOIN latest l ON l.device_key = v.device_key "
        "WHERE v.device_key = ANY($1::int[])",
        keys,
    )
    newest: dict[tuple[int, int], int] = {}
    for r in rows:
        us = int(r["seen"].timestamp() * 1_000_000)
        newest[(r["device_key"], r["metric_id"])] = us
        k = (r["device_key"], ANY_METRIC)
        newest[k] = max(newest.get(k, us), us)
    for s in nd.tolist():
        m = int(comp.p["metric"][comp.slot_leaf[s]])
        seen = newest.get((int(comp.slot_device[s]), m))
        if seen is not None:
            ev.nd_base[s] = seen


async def rebuild(
    conn: Conn,
    rules: Sequence[StoredRule],
    devices: DeviceTable,
    profiles: ProfileRegistry,
    metric_ids: dict[str, int],
    now_us: int,
    max_lookback_us: int,
) -> Restored:
    """Replay history for ``rules`` into a fresh evaluator and reconcile with alarms."""
    ev = Evaluator(profiles, metric_ids)
    ev.configure(rules, devices, now_us)
    comp = ev.compiled
    if not comp.rules:
        return Restored(ev, [], 0, 0)
    need = max(lookback_us(r.rule, profiles) for r in rules)
    await _seed_no_data(conn, ev)
    device_keys = sorted(set(comp.slot_device.tolist()))
    # What a device's state depends on is its own last readings, which may be older than
    # now minus the rules' durations (a device that reports hourly, a quiet night): read
    # back from the oldest device's newest reading, within the configured bound.
    floor_us = now_us - max_lookback_us
    oldest = await conn.fetchval(
        "SELECT min(time) FROM latest WHERE device_key = ANY($1::int[]) AND time >= $2",
        device_keys, to_dt(floor_us),
    )  # fmt: skip
    newest_floor = int(oldest.timestamp() * 1e6) if oldest is not None else now_us
    start_us = max(floor_us, min(now_us, newest_floor) - need)
    lookback = now_us - start_us
    leaf_metrics = {int(m) for m in comp.p["metric"].tolist()}
    metrics = {m for m in leaf_metrics if m != ANY_METRIC}
    seen: dict[tuple[int, str], list[AlarmEvent]] = {}
    replayed = 0
    async for chunk in read_history(
        [conn], to_dt(start_us), to_dt(now_us + 1), sorted(metrics), device_keys,
        any_metric=ANY_METRIC in leaf_metrics, chunk=6 * 3600,
    ):  # fmt: skip
        replayed += len(chunk)
        for e in ev.feed(chunk):
            seen.setdefault(e.key, []).append(e)
    for e in ev.tick(now_us):
        seen.setdefault(e.key, []).append(e)
    rule_ids = sorted({r.id for r in rules})
    table = await conn.fetch(
        "SELECT DISTINCT ON (rule_id, subject) rule_id, subject, active, raised_at, "
        "cleared_at, cleared_by FROM alarms WHERE rule_id = ANY($1::int[]) "
        "ORDER BY rule_id, subject, raised_at DESC",
        rule_ids,
    )
    stored = {(r["rule_id"], r["subject"]): r for r in table}
    holding = ev.active_subjects()
    missed: list[AlarmEvent] = []
    keep_active: list[tuple[int, str]] = []
    for key in set(stored) | set(seen):
        row = stored.get(key)
        wrote_clear = _reconcile(row, seen.get(key, []), missed)
        if row is not None and row["active"] and key not in holding and not wrote_clear:
            keep_active.append(key)
    kept = ev.mark_active(keep_active)
    missed.sort(key=lambda e: e.t_us)
    log.info(
        "rules: rebuilt %d rules from %d readings over %.1f h; %d active alarms kept, "
        "%d missed events to write",
        len(comp.rules), replayed, lookback / 3.6e9, kept, len(missed),
    )  # fmt: skip
    return Restored(ev, missed, replayed, kept)


def _reconcile(
    row: asyncpg.Record | None, events: list[AlarmEvent], missed: list[AlarmEvent]
) -> bool:
    """Add to ``missed`` the replayed transitions of one subject that the alarms table
    does not know; returns whether a clear was added.

    What the table knows ends at its newest alarm's clear (or, while active, its raise):
    replayed transitions up to then are history already. After it, a transition is new
    only if it changes what the table last said: a raise while the stored alarm is active
    or was cleared by hand (the condition presumably still held) is the replay starting
    in the middle of a condition, not a new occurrence; a clear while nothing is recorded
    active is the same.
    """
    if row is None:
        known_until, recorded_active = float("-inf"), False
    elif row["active"]:
        known_until, recorded_active = _us(row["raised_at"]), True
    else:
        known_until = _us(row["cleared_at"] or row["raised_at"])
        recorded_active = row["cleared_by"] != "rule"
    wrote_clear = False
    for e in events:
        if e.t_us <= known_until:
            continue
        if e.kind == "raised":
            if not recorded_active:
                missed.append(e)
            recorded_active = True
        else:
            if recorded_active:
                missed.append(e)
                wrote_clear = True
            recorded_active = False
    return wrote_clear


def _us(dt: datetime) -> float:
    return dt.timestamp() * 1e6
