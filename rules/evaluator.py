"""Evaluation of compiled rules over committed readings, in time order per device.

:meth:`Evaluator.feed` takes one batch (:class:`ingest.feed.Committed`): readings become
(slot, reading) pairs through the per-metric index, sorted by slot and device time;
readings not newer than the slot's last one (late or redelivered) are skipped and
counted; each condition kind turns its pairs into hi/lo marks (a comparison, a rate, a
window aggregate, a state test); the shared debouncer (:mod:`rules.kernel`) finds the
transitions. Only transitions reach Python code: AND/OR and fleet rules combine them,
and each becomes an :class:`~rules.events.AlarmEvent`.

The same evaluator serves live evaluation, the rebuild after a restart and
back-testing, which is why back-testing equals live evaluation on the same readings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from device_profiles import ProfileRegistry
from ingest.feed import Committed

from .combine import ComboState, FleetArea, LeafChange, combo_step, fleet_run
from .compile import (
    ANY_METRIC,
    FLEET,
    KIND,
    PART,
    Compiled,
    MetricIndex,
    StoredRule,
    compile_rules,
)
from .devices import DeviceTable
from .events import AlarmEvent
from .kernel import NO_TIME, SlotState, debounce, group_bounds
from .model import Fleet
from .sun import is_daylight
from .window import WindowBuffer, aggregate

log = logging.getLogger(__name__)

__all__ = ["Evaluator", "adopt"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
RATE, WINDOW, STATE, NODATA = KIND["rate"], KIND["window"], KIND["state"], KIND["no_data"]

# (slot, time, raised?, value)
Raw = tuple[int, int, bool, float | None]


def _pairs(index: MetricIndex, dev: npt.NDArray[np.int32]) -> tuple[I64, I64]:
    """(reading position, slot) for every slot of each reading's device."""
    if not len(index.keys) or not len(dev):
        e = np.empty(0, np.int64)
        return e, e
    pos = np.minimum(np.searchsorted(index.keys, dev), len(index.keys) - 1)
    counts = np.where(index.keys[pos] == dev, index.counts[pos], 0)
    total = int(counts.sum())
    reading = np.repeat(np.arange(len(dev), dtype=np.int64), counts)
    starts = np.repeat(index.starts[pos], counts)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return reading, index.slots[starts + offset]


class Evaluator:
    """Rules, their per-slot state, and the functions that advance it."""

    def __init__(self, profiles: ProfileRegistry, metric_ids: dict[str, int]) -> None:
        self.profiles = profiles
        self.metric_ids = dict(metric_ids)
        self.metric_names = {v: k for k, v in metric_ids.items()}
        self.compiled = Compiled()
        self.devices = DeviceTable([])
        self.state = SlotState()
        self.nd_base: I64 = np.empty(0, np.int64)  # no-data clock start of never-seen slots
        self.windows = WindowBuffer()
        self.combos: dict[tuple[int, int, int], ComboState] = {}
        self.fleet: dict[tuple[int, int], dict[str, FleetArea]] = {}
        self.skipped = 0  # late or repeated readings not evaluated
        self.evaluated = 0

    # -- configuration ----------------------------------------------------------------
    def configure(self, rules: Sequence[StoredRule], devices: DeviceTable, now_us: int) -> None:
        """Compile ``rules`` against ``devices``, keeping the state of every (rule
        version, condition, device) that still exists; new slots start empty."""
        new = compile_rules(rules, devices, self.profiles, self.metric_ids)
        old = {k: i for i, k in enumerate(self.compiled.slot_keys)}
        old_index = np.asarray([old.get(k, -1) for k in new.slot_keys], np.int64)
        self.state = self.state.remap(old_index)
        base = np.full(new.n_slots, now_us, np.int64)
        have = old_index >= 0
        base[have] = self.nd_base[old_index[have]]
        self.nd_base = base
        self.windows.remap({int(o): i for i, o in enumerate(old_index.tolist()) if o >= 0})
        live = {(r.stored.id, r.stored.version) for r in new.rules}
        self.combos = {k: v for k, v in self.combos.items() if (k[0], k[1]) in live}
        self.fleet = {k: v for k, v in self.fleet.items() if k in live}
        self.compiled, self.devices = new, devices

    # -- evaluation ---------------------------------------------------------------------
    def feed(self, c: Committed) -> list[AlarmEvent]:
        """Evaluate one committed batch; returns the alarm transitions, in time order."""
        comp = self.compiled
        if comp.n_slots == 0 or len(c) == 0:
            return []
        idx_parts: list[I64] = []
        slot_parts: list[I64] = []
        for m, index in comp.by_metric.items():
            if m == ANY_METRIC:
                continue
            sel = np.flatnonzero(c.metric_id == m)
            if len(sel):
                r, s = _pairs(index, c.device_key[sel])
                idx_parts.append(sel[r])
                slot_parts.append(s)
        any_index = comp.by_metric.get(ANY_METRIC)
        if any_index is not None:
            order = np.lexsort((c.time_us, c.device_key))
            d, t = c.device_key[order], c.time_us[order]
            uniq = np.ones(len(d), np.bool_)
            uniq[1:] = (d[1:] != d[:-1]) | (t[1:] != t[:-1])
            sel = order[uniq]
            r, s = _pairs(any_index, c.device_key[sel])
            idx_parts.append(sel[r])
            slot_parts.append(s)
        if not idx_parts:
            return []
        ridx = np.concatenate(idx_parts)
        slot = np.concatenate(slot_parts)
        t = c.time_us[ridx]
        v = c.value[ridx]
        order = np.lexsort((t, slot))
        slot, t, v = slot[order], t[order], v[order]
        keep = t > self.state.last_t[slot]
        if len(t) > 1:
            keep[1:] &= ~((slot[1:] == slot[:-1]) & (t[1:] == t[:-1]))
        self.skipped += int(len(keep) - keep.sum())
        slot, t, v = slot[keep], t[keep], v[keep]
        if not len(slot):
            return []
        self.evaluated += len(slot)
        leaf = comp.slot_leaf[slot]
        kind = comp.p["kind"][leaf]
        raw: list[Raw] = []
        nd = kind == NODATA
        if nd.any():
            raw += self._no_data(slot[nd], t[nd])
        k = ~nd
        if k.any():
            raw += self._conditions(slot[k], t[k], v[k], leaf[k], kind[k])
        _, _, last = group_bounds(slot)
        self.state.last_t[slot[last]] = t[last]
        self.state.last_v[slot[last]] = v[last]
        role = comp.leaf_role_np[leaf]
        fleet = role == FLEET
        return self._dispatch(raw, slot[fleet], t[fleet])

    def tick(self, now_us: int) -> list[AlarmEvent]:
        """Raise no-data conditions whose silence has lasted long enough by ``now_us``."""
        comp = self.compiled
        if comp.n_slots == 0:
            return []
        nd = np.flatnonzero(comp.p["kind"][comp.slot_leaf] == NODATA)
        if not len(nd):
            return []
        last = self.state.last_t[nd]
        base = np.where(last == NO_TIME, self.nd_base[nd], last)
        wait = comp.slot_nodata_us[nd]
        due = ~self.state.active[nd] & (now_us - base >= wait)
        raw: list[Raw] = []
        for s, at in zip(nd[due].tolist(), (base + wait)[due].tolist(), strict=True):
            self.state.active[s] = True
            raw.append((s, at, True, None))
        return self._dispatch(raw, np.empty(0, np.int64), np.empty(0, np.int64))

    def _no_data(self, slot: I64, t: I64) -> list[Raw]:
        """Readings of no-data slots: a gap longer than the allowed silence raises (at
        the end of the allowed silence) and the reading clears."""
        first, _, last = group_bounds(slot)
        prev = np.empty(len(t), np.int64)
        prev[1:] = t[:-1]
        carried = self.state.last_t[slot[first]]
        prev[first] = np.where(carried == NO_TIME, self.nd_base[slot[first]], carried)
        was_active = np.zeros(len(t), np.bool_)
        was_active[first] = self.state.active[slot[first]]
        wait = self.compiled.slot_nodata_us[slot]
        gap = (t - prev >= wait) & ~was_active
        raw: list[Raw] = []
        for i in np.flatnonzero(gap | was_active).tolist():
            s, ti = int(slot[i]), int(t[i])
            if gap[i]:
                raw.append((s, int(prev[i] + wait[i]), True, None))
            raw.append((s, ti, False, None))
        self.state.active[slot[last]] = False
        return raw

    def _conditions(self, slot: I64, t: I64, v: F64, leaf: I64, kind: I64) -> list[Raw]:
        p = self.compiled.p
        x = v.astype(np.float64, copy=True)
        rate = kind == RATE
        if rate.any():
            first, _, _ = group_bounds(slot)
            pt = np.empty(len(t), np.int64)
            pv = np.empty(len(t), np.float64)
            pt[1:], pv[1:] = t[:-1], v[:-1]
            pt[first] = self.state.last_t[slot[first]]
            pv[first] = self.state.last_v[slot[first]]
            dt = t - pt
            ok = rate & (pt != NO_TIME) & (dt > 0) & (dt <= p["max_gap_us"][leaf])
            x[rate] = np.nan
            x[ok] = (v[ok] - pv[ok]) / dt[ok] * p["per_us"][leaf[ok]]
        win = kind == WINDOW
        if win.any():
            x[win] = self._windows(slot[win], t[win], v[win])
        hi = (x > p["hi_gt"][leaf]) | (x < p["hi_lt"][leaf])
        lo = (x >= p["clr_lo"][leaf]) & (x <= p["clr_hi"][leaf])
        st = np.flatnonzero(kind == STATE)
        if len(st):
            hi[st], lo[st] = self._states(slot[st], t[st], v[st], leaf[st])
        tr = debounce(
            slot,
            t,
            hi,
            lo,
            p["need_hi_us"][leaf],
            p["need_hi_n"][leaf],
            p["need_lo_us"][leaf],
            p["need_lo_n"][leaf],
            self.state,
        )
        raw: list[Raw] = [(int(slot[i]), int(t[i]), True, _num(x[i])) for i in tr.raised]
        raw += [(int(slot[i]), int(t[i]), False, _num(x[i])) for i in tr.cleared]
        return raw

    def _windows(self, slot: I64, t: I64, v: F64) -> F64:
        p = self.compiled.p
        ms, mt, mv, new = self.windows.merged(slot, t, v)
        ml = self.compiled.slot_leaf[ms]
        span = p["window_us"][ml]
        x, count = aggregate(ms, mt, mv, span, p["agg"][ml], p["q"][ml], new)
        x[count < p["min_count"][ml]] = np.nan
        self.windows.store(ms, mt, mv, span)
        result: F64 = x[new]
        return result

    def _states(self, slot: I64, t: I64, v: F64, leaf: I64) -> tuple[B, B]:
        mask = self.compiled.p["slot_state_mask"][slot]
        index = np.clip(v, 0, 62).astype(np.int64)
        inside = ((mask >> index) & 1).astype(np.bool_)
        when = self.compiled.p["when"][leaf]
        known = np.ones(len(t), np.bool_)
        if (when != 0).any():
            pos = self.devices.position(self.compiled.slot_device[slot])
            lat, lon = self.devices.lat[pos], self.devices.lon[pos]
            day = is_daylight(t, lat, lon)
            known = (when == 0) | ~(np.isnan(lat) | np.isnan(lon))
            inside &= np.where(when == 1, day, np.where(when == 2, ~day, True))
        return inside & known, ~inside & known

    # -- transitions -> alarm events ----------------------------------------------------
    def _dispatch(self, raw: list[Raw], fleet_slot: I64, fleet_t: I64) -> list[AlarmEvent]:
        comp = self.compiled
        events: list[AlarmEvent] = []
        combos: dict[int, list[LeafChange]] = {}
        fleets: dict[int, list[LeafChange]] = {}
        for s, t, up, value in sorted(raw, key=lambda r: (r[1], r[0])):
            leaf = int(comp.slot_leaf[s])
            ri = comp.leaf_rule[leaf]
            role = comp.leaf_role[leaf]
            device = int(comp.slot_device[s])
            info = comp.rules[ri]
            if role in (PART, FLEET):
                target = combos if role == PART else fleets
                target.setdefault(ri, []).append((t, leaf - info.leaves[0], device, up, value))
                continue
            events.append(self._event(ri, device, up, t, value, leaf))
        for ri, changes in combos.items():
            events += self._combine(ri, changes)
        for ri in {int(comp.leaf_rule[int(comp.slot_leaf[s])]) for s in fleet_slot.tolist()} | set(
            fleets
        ):
            events += self._fleet(ri, fleets.get(ri, []), fleet_slot, fleet_t)
        events.sort(key=lambda e: (e.t_us, e.kind != "cleared"))
        return events

    def _event(
        self, ri: int, device: int, up: bool, t: int, value: float | None, leaf: int | None
    ) -> AlarmEvent:
        info = self.compiled.rules[ri]
        metric = None
        if leaf is not None:
            m = int(self.compiled.p["metric"][leaf])
            metric = self.metric_names.get(m)
        return AlarmEvent(
            info.stored.id,
            info.stored.version,
            self.devices.by_key[device].id,
            "raised" if up else "cleared",
            t,
            device,
            metric,
            value,
        )

    def _combine(self, ri: int, changes: list[LeafChange]) -> list[AlarmEvent]:
        info = self.compiled.rules[ri]
        out: list[AlarmEvent] = []
        for t, pos, device, up, value in changes:
            key = (info.stored.id, info.stored.version, device)
            state = self.combos.get(key)
            if state is None:
                state = self.combos[key] = ComboState([False] * len(info.leaves))
            changed = combo_step(state, pos, up, info.combine)
            if changed is not None:
                out.append(self._event(ri, device, changed, t, value, info.leaves[pos]))
        return out

    def _fleet(
        self, ri: int, changes: list[LeafChange], fleet_slot: I64, fleet_t: I64
    ) -> list[AlarmEvent]:
        comp = self.compiled
        info = comp.rules[ri]
        cond = info.rule.condition
        assert isinstance(cond, Fleet)
        areas = self.fleet.setdefault((info.stored.id, info.stored.version), {})
        mine = comp.leaf_rule_np[comp.slot_leaf[fleet_slot]] == ri if len(fleet_slot) else None
        by_area: dict[str, list[LeafChange]] = {}
        for ch in changes:
            by_area.setdefault(self._area(cond, ch[2]), []).append(ch)
        times: dict[str, I64] = {}
        if mine is not None and mine.any():
            devs = comp.slot_device[fleet_slot[mine]]
            ts = fleet_t[mine]
            names = np.asarray([self._area(cond, int(d)) for d in devs.tolist()])
            for name in np.unique(names).tolist():
                times[name] = np.sort(ts[names == name])
        out: list[AlarmEvent] = []
        empty = np.empty(0, np.int64)
        for name in set(by_area) | {n for n, a in areas.items() if a.since is not None}:
            area = areas.setdefault(name, FleetArea())
            if name not in by_area and name not in times:
                continue
            for t, up, members in fleet_run(
                area, by_area.get(name, []), times.get(name, empty), cond.min_devices, cond.for_
            ):
                out.append(
                    AlarmEvent(
                        info.stored.id,
                        info.stored.version,
                        name,
                        "raised" if up else "cleared",
                        t,
                        None,
                        self.metric_names.get(int(comp.p["metric"][info.leaves[0]])),
                        None,
                        {
                            "devices": sorted(
                                self.devices.by_key[d].id
                                for d in members
                                if d in self.devices.by_key
                            )
                        },
                    )
                )
        return out

    def _area(self, cond: Fleet, device: int) -> str:
        if cond.area == "scope":
            return "scope"
        d = self.devices.by_key.get(device)
        return f"district:{d.district if d is not None and d.district else '-'}"

    # -- restore ------------------------------------------------------------------------
    def active_subjects(self) -> dict[tuple[int, str], int]:
        """(rule id, subject) -> rule version, for every subject whose condition holds."""
        comp = self.compiled
        out: dict[tuple[int, str], int] = {}
        for s in np.flatnonzero(self.state.active).tolist():
            leaf = int(comp.slot_leaf[s])
            if comp.leaf_role[leaf] != 0:
                continue
            info = comp.rules[comp.leaf_rule[leaf]]
            out[(info.stored.id, self.devices.by_key[int(comp.slot_device[s])].id)] = (
                info.stored.version
            )
        for (rid, ver, device), c in self.combos.items():
            if c.active and device in self.devices.by_key:
                out[(rid, self.devices.by_key[device].id)] = ver
        for (rid, ver), areas in self.fleet.items():
            for name, area in areas.items():
                if area.active:
                    out[(rid, name)] = ver
        return out

    def mark_active(self, rule_id: int, subject: str) -> bool:
        """Treat the condition of (rule, subject) as holding (its alarm is active in the
        alarms table), so that it is not raised a second time; False if unknown."""
        comp = self.compiled
        for info in comp.rules:
            if info.stored.id != rule_id:
                continue
            if info.combine == "fleet":
                areas = self.fleet.setdefault((rule_id, info.stored.version), {})
                areas.setdefault(subject, FleetArea()).active = True
                return True
            device = self.devices.by_id.get(subject)
            if device is None:
                return False
            if info.combine in ("all", "any"):
                key = (rule_id, info.stored.version, device.device_key)
                state = self.combos.setdefault(key, ComboState([False] * len(info.leaves)))
                state.active = True
                return True
            sel = (comp.slot_device == device.device_key) & np.isin(
                comp.slot_leaf, np.asarray(info.leaves)
            )
            self.state.active[sel] = True
            return bool(sel.any())
        return False


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def adopt(target: Evaluator, source: Evaluator) -> int:
    """Copy the state of every slot ``source`` has into the same slot of ``target``
    (matched by rule version, condition and device), with its windows and AND/OR and
    fleet state; returns how many slots were taken over."""
    mine = {k: i for i, k in enumerate(target.compiled.slot_keys)}
    pairs = [(mine[k], i) for i, k in enumerate(source.compiled.slot_keys) if k in mine]
    if pairs:
        dst = np.asarray([p[0] for p in pairs], np.int64)
        src = np.asarray([p[1] for p in pairs], np.int64)
        ts, ss = target.state, source.state
        ts.active[dst] = ss.active[src]
        ts.last_t[dst] = ss.last_t[src]
        ts.last_v[dst] = ss.last_v[src]
        for a, b in ((ts.raise_, ss.raise_), (ts.clear, ss.clear)):
            a.start[dst], a.length[dst], a.fired[dst] = b.start[src], b.length[src], b.fired[src]
        target.nd_base[dst] = source.nd_base[src]
        moved = {int(s): int(d) for d, s in pairs}
        keep = ~np.isin(target.windows.slot, dst)
        sw = source.windows
        take = np.isin(sw.slot, src)
        target.windows.slot = np.concatenate(
            (
                target.windows.slot[keep],
                np.asarray([moved[s] for s in sw.slot[take].tolist()], np.int64),
            )
        )
        target.windows.t = np.concatenate((target.windows.t[keep], sw.t[take]))
        target.windows.v = np.concatenate((target.windows.v[keep], sw.v[take]))
    target.combos.update(source.combos)
    target.fleet.update(source.fleet)
    return len(pairs)
