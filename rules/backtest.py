"""Back-testing: run a rule (saved or a draft) over a stored time range and get the
alarms it would have raised, with no side effects. It uses the same evaluator as live
evaluation, fed with the stored readings in time order, so its result equals what the
live engine raised on the same data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from device_profiles import ProfileRegistry
from ingest.db import Conn

from .actions.alarms import to_dt
from .definition.model import Rule
from .evaluation.compile import ANY_METRIC, StoredRule
from .evaluation.devices import load_devices
from .evaluation.evaluator import Evaluator
from .evaluation.events import AlarmEvent
from .history import read_history
from .restore import lookback_us

__all__ = ["BacktestAlarm", "BacktestResult", "backtest", "fold_events"]


@dataclass(slots=True)
class BacktestAlarm:
    """An alarm the rule would have raised."""

    subject: str
    raised_at: datetime
    cleared_at: datetime | None = None
    count: int = 1
    metric: str | None = None
    value: float | None = None
    details: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class BacktestResult:
    """What a back-test found."""

    rule: str
    start: datetime
    end: datetime
    readings: int
    devices: int
    alarms: list[BacktestAlarm]
    seconds: float


def fold_events(events: list[AlarmEvent], rule: Rule) -> list[BacktestAlarm]:
    """Alarm records from transitions, with the alarm semantics: one active alarm per
    subject (a raise while active counts a repeat), cleared by the rule only with
    auto-clear."""
    active: dict[str, BacktestAlarm] = {}
    out: list[BacktestAlarm] = []
    for e in events:
        if e.kind == "raised":
            cur = active.get(e.subject)
            if cur is not None:
                cur.count += 1
                continue
            alarm = BacktestAlarm(e.subject, to_dt(e.t_us), None, 1, e.metric, e.value, e.details)
            active[e.subject] = alarm
            out.append(alarm)
        elif rule.auto_clear and e.subject in active:
            active.pop(e.subject).cleared_at = to_dt(e.t_us)
    return out


async def backtest(
    conn: Conn,
    rule: Rule,
    start: datetime,
    end: datetime,
    profiles: ProfileRegistry,
    metric_ids: dict[str, int],
    *,
    warmup: bool = True,
    more: Sequence[Conn] = (),
) -> BacktestResult:
    """The alarms ``rule`` would have raised from readings in [start, end). With
    ``warmup``, readings just before ``start`` (as far back as the rule's durations and
    windows reach) build its state first; alarms that ended before ``start`` are left out.
    With ``more`` connections, the next days are read while one is evaluated."""
    started = time.perf_counter()
    devices = await load_devices(conn)
    start_us = int(start.timestamp() * 1e6)
    end_us = int(end.timestamp() * 1e6)
    from_us = start_us - (lookback_us(rule, profiles) if warmup else 0)
    ev = Evaluator(profiles, metric_ids)
    ev.configure([StoredRule(0, 0, rule.model_copy(update={"enabled": True}))], devices, from_us)
    comp = ev.compiled
    leaf_metrics = {int(m) for m in comp.p["metric"].tolist()} if comp.n_slots else set()
    metrics = {m for m in leaf_metrics if m != ANY_METRIC}
    keys = sorted(set(comp.slot_device.tolist()))
    events: list[AlarmEvent] = []
    readings = 0
    if keys:
        async for chunk in read_history(
            [conn, *more], to_dt(from_us), end, sorted(metrics), keys,
            any_metric=ANY_METRIC in leaf_metrics,
        ):  # fmt: skip
            readings += len(chunk)
            # numpy work off the event loop: a long back-test must not stall the service
            # it runs in (the gateway and the live engine share the loop).
            events += await asyncio.to_thread(ev.feed, chunk)
        events += ev.tick(end_us)
    alarms = [
        a
        for a in fold_events(events, rule)
        if a.cleared_at is None or a.cleared_at.timestamp() * 1e6 >= start_us
    ]
    return BacktestResult(
        rule.name, start, end, readings, len(keys), alarms, time.perf_counter() - started
    )
