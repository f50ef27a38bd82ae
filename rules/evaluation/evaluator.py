"""Evaluation of compiled rules over committed readings, in time order per device.

:meth:`Evaluator.feed` takes one batch (:class:`ingest.feed.Committed`): readings become
(slot, reading) pairs through the per-metric index, sorted by slot and device time;
readings not newer than the slot's last one (late or redelivered) are skipped and
counted; each condition kind turns its pairs into hi/lo marks (a comparison, a rate, a
window aggregate, a state test); the shared debouncer (:mod:`rules.evaluation.kernel`) finds the
transitions. Only transitions reach Python code: AND/OR and fleet rules combine them,
and each becomes an :class:`~rules.evaluation.events.AlarmEvent`.

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

from ..definition.model import Fleet
from .choose import rate_pairs, threshold_pairs, window_pairs
from .combine import ComboState, FleetArea, LeafChange, combo_step, fleet_run
from .compile import ANY_METRIC, FLEET, KIND, PART, Compiled, StoredRule, compile_rules
from .devices import DeviceTable
from .events import AlarmEvent
from .index import SlotIndex
from .kernel import NO_TIME, SlotState, debounce, group_bounds
from .sun import is_daylight
from .window import WindowBuffer

log = logging.getLogger(__name__)

__all__ = ["Evaluator", "adopt"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
STATE, NODATA = KIND["state"], KIND["no_data"]

# (slot, time, raised?, value)
Raw = tuple[int, int, bool, float | None]


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
        # Transitions found outside a batch (a fleet area that lost devices to a
        # re-configuration), handed out with the next batch or tick.
        self._later: list[AlarmEvent] = []
        self.fleet: dict[tuple[int, int], dict[str, FleetArea]] = {}
        self.skipped = 0  # late or repeated readings not evaluated
        # Skip readings that cannot change anything (off only to test that it changes
        # nothing).
        self.prefilter = True
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
        self.windows.remap(_position_map(self.compiled.win_ix, new.win_ix))
        live = {(r.stored.id, r.stored.version) for r in new.rules}
        self.combos = {k: v for k, v in self.combos.items() if (k[0], k[1]) in live}
        self.fleet = {k: v for k, v in self.fleet.items() if k in live}
        old_comp = self.compiled
        new.filter_ix.carry_from(old_comp.filter_ix)
        new.rate_ix.carry_from(old_comp.rate_ix)
        new.win_ix.carry_from(old_comp.win_ix)
        new.nd_ix.carry_from(old_comp.nd_ix)
        self.compiled, self.devices = new, devices
        new.filter_ix.refresh_busy(self._nonidle())
        new.nd_ix.refresh_busy(self.state.active)
        self._refresh_fleet(now_us)

    def _refresh_fleet(self, now_us: int) -> None:
        """Fleet areas from their devices' current states: a device that left the scope
        or moved to another district leaves its old area (which may clear)."""
        comp = self.compiled
        for info in comp.rules:
            if info.combine != "fleet":
                continue
            cond = info.rule.condition
            assert isinstance(cond, Fleet)
            key = (info.stored.id, info.stored.version)
            areas = self.fleet.get(key)
            if not areas:
                continue
            slots = np.flatnonzero(comp.slot_leaf == info.leaves[0])
            holding = comp.slot_device[slots[self.state.active[slots]]].tolist()
            members: dict[str, set[int]] = {}
            for d in holding:
                members.setdefault(self._area(cond, int(d)), set()).add(int(d))
            for name, area in areas.items():
                if not area.active and area.since is None and not area.members:
                    continue  # restored as active from the table: nothing to compare yet
                area.members = members.get(name, set())
                enough = len(area.members) >= cond.min_devices
                if not enough:
                    area.since = None
                    if area.active:
                        area.active = False
                        self._later.append(
                            self._area_event(info.index, name, False, now_us, area.members)
                        )

    # -- evaluation ---------------------------------------------------------------------
    def feed(self, c: Committed) -> list[AlarmEvent]:
        """Evaluate one committed batch; returns the alarm transitions, in time order."""
        comp = self.compiled
        if comp.n_slots == 0 or len(c) == 0:
            return []
        dev = c.device_key.astype(np.int64)
        met = c.metric_id.astype(np.int64)
        raw: list[Raw] = []
        idx_parts: list[I64] = []
        slot_parts: list[I64] = []
        x_parts: list[F64] = []
        nonidle = self._nonidle()
        for chosen in (
            threshold_pairs(comp, nonidle, c, met, dev, self.prefilter),
            rate_pairs(comp, nonidle, c, met, dev, self.prefilter),
            window_pairs(comp, self.windows, c, met, dev, self.prefilter),
        ):
            self.skipped += chosen.skipped
            self.evaluated += chosen.fresh
            if len(chosen.ridx):
                idx_parts.append(chosen.ridx)
                slot_parts.append(chosen.slot)
                x_parts.append(chosen.x)
        if idx_parts:
            raw += self._evaluate(
                np.concatenate(slot_parts), np.concatenate(idx_parts), np.concatenate(x_parts), c
            )
        if comp.nd_ix.size:
            raw += self._no_data(c, dev, met)
        return self._dispatch(raw, c)

    def _evaluate(self, slot: I64, ridx: I64, x: F64, c: Committed) -> list[Raw]:
        """Run the chosen (slot, reading) pairs through their conditions; ``x`` is what
        each pair compares (the value, a rate, a window's aggregate)."""
        comp = self.compiled
        t = c.time_us[ridx]
        v = c.value[ridx]
        order = np.lexsort((t, slot))
        slot, t, v, x = slot[order], t[order], v[order], x[order]
        # Not newer than what the slot has seen (a rebuilt slot that replayed readings
        # committed during its rebuild), or the same reading twice in this batch.
        keep = t > self.state.last_t[slot]
        if len(t) > 1:
            keep[1:] &= ~((slot[1:] == slot[:-1]) & (t[1:] == t[:-1]))
        if not keep.all():
            slot, t, v, x = slot[keep], t[keep], v[keep], x[keep]
            if not len(slot):
                return []
        leaf = comp.slot_leaf[slot]
        raw = self._conditions(slot, t, v, x, leaf, comp.p["kind"][leaf])
        _, _, last = group_bounds(slot)
        self.state.last_t[slot[last]] = t[last]
        nonidle = self._nonidle()
        for ix in (comp.filter_ix, comp.rate_ix, comp.win_ix):
            positions = ix.slot_pos[slot[last]]
            positions = positions[positions >= 0]
            if len(positions):
                ix.refresh_busy(nonidle, positions)
        return raw

    def _nonidle(self) -> B:
        return self.state.active | (self.state.raise_.length > 0)

    def tick(self, now_us: int) -> list[AlarmEvent]:
        """Raise no-data conditions whose silence has lasted long enough by ``now_us``."""
        comp = self.compiled
        ix = comp.nd_ix
        if not ix.size:
            return self._dispatch([], None)
        nd = ix.slots
        seen = ix.last_t[ix.slot_pos[nd]]
        base = np.where(seen == NO_TIME, self.nd_base[nd], seen)
        wait = comp.slot_nodata_us[nd]
        due = ~self.state.active[nd] & (now_us - base >= wait)
        raw: list[Raw] = []
        for s, at in zip(nd[due].tolist(), (base + wait)[due].tolist(), strict=True):
            self.state.active[s] = True
            raw.append((s, at, True, None))
        if raw:
            ix.refresh_busy(self.state.active, ix.slot_pos[nd[due]])
        return self._dispatch(raw, None)

    def _no_data(self, c: Committed, dev: I64, met: I64) -> list[Raw]:
        """Readings at no-data positions: a gap (between receive times) longer than the
        allowed silence raises (at the end of the allowed silence) and the reading
        clears; otherwise only the position's last-seen time moves."""
        ix = self.compiled.nd_ix
        pos_parts: list[I64] = []
        t_parts: list[I64] = []
        # Silence is about what arrives: receive times, so that a device with a wrong
        # clock is not "silent", and a burst of backfilled readings is news.
        for m in (met, np.full(len(dev), ANY_METRIC, np.int64)):
            pos, ok = ix.lookup_md(m, dev)
            sel = np.flatnonzero(ok)
            pos_parts.append(pos[sel])
            t_parts.append(c.received_us[sel])
        pos = np.concatenate(pos_parts)
        t = np.concatenate(t_parts)
        fresh = t > ix.last_t[pos]
        pos, t = pos[fresh], t[fresh]
        if not len(pos):
            return []
        tmin = np.full(ix.size, np.iinfo(np.int64).max, np.int64)
        tmax = np.full(ix.size, NO_TIME, np.int64)
        np.minimum.at(tmin, pos, t)
        np.maximum.at(tmax, pos, t)
        touched = np.unique(pos)
        before = ix.last_t[touched]
        wait = ix.min_wait[touched]
        hot = touched[
            (before == NO_TIME)
            | (tmin[touched] - before >= wait)
            | (tmax[touched] - tmin[touched] >= wait)
            | (ix.busy[touched] > 0)
        ]
        raw: list[Raw] = []
        if len(hot):
            raw = self._no_data_hot(ix, pos, t, hot)
        np.maximum.at(ix.last_t, pos, t)
        return raw

    def _no_data_hot(self, ix: SlotIndex, pos: I64, t: I64, hot: I64) -> list[Raw]:
        m = np.isin(pos, hot)
        hp, ht = pos[m], t[m]
        which, slot = ix.expand(hp)
        st = ht[which]
        order = np.lexsort((st, slot))
        slot, st = slot[order], st[order]
        keep = np.ones(len(st), np.bool_)
        keep[1:] = ~((slot[1:] == slot[:-1]) & (st[1:] == st[:-1]))
        slot, st = slot[keep], st[keep]
        first, _, last = group_bounds(slot)
        prev = np.empty(len(st), np.int64)
        prev[1:] = st[:-1]
        seen = ix.last_t[ix.slot_pos[slot[first]]]
        prev[first] = np.where(seen == NO_TIME, self.nd_base[slot[first]], seen)
        was_active = np.zeros(len(st), np.bool_)
        was_active[first] = self.state.active[slot[first]]
        wait = self.compiled.slot_nodata_us[slot]
        gap = (st - prev >= wait) & ~was_active
        raw: list[Raw] = []
        for i in np.flatnonzero(gap | was_active).tolist():
            s, ti = int(slot[i]), int(st[i])
            if gap[i]:
                raw.append((s, int(prev[i] + wait[i]), True, None))
            raw.append((s, ti, False, None))
        self.state.active[slot[last]] = False
        ix.refresh_busy(self.state.active, hot)
        return raw

    def _conditions(self, slot: I64, t: I64, v: F64, x: F64, leaf: I64, kind: I64) -> list[Raw]:
        p = self.compiled.p
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

    def _states(self, slot: I64, t: I64, v: F64, leaf: I64) -> tuple[B, B]:
        mask = self.compiled.slot_state_mask[slot]
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
    def _dispatch(self, raw: list[Raw], c: Committed | None) -> list[AlarmEvent]:
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
        if self._later:
            events += self._later
            self._later = []
        pending = {
            ri for ri, info in enumerate(comp.rules) if info.combine == "fleet"
            and any(a.since is not None and not a.active
                    for a in self.fleet.get((info.stored.id, info.stored.version), {}).values())
        }  # fmt: skip
        for ri in pending | set(fleets):
            events += self._fleet(ri, fleets.get(ri, []), c)
        # Stable: a subject's transitions keep the order they were found in.
        events.sort(key=lambda e: e.t_us)
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
        by_instant: dict[tuple[int, int], list[tuple[int, bool, float | None]]] = {}
        for t, pos, device, up, value in changes:
            by_instant.setdefault((device, t), []).append((pos, up, value))
        for (device, t), moves in sorted(by_instant.items(), key=lambda kv: kv[0][1]):
            key = (info.stored.id, info.stored.version, device)
            state = self.combos.get(key)
            if state is None:
                state = self.combos[key] = ComboState([False] * len(info.leaves))
            changed = combo_step(state, [(p, u) for p, u, _ in moves], info.combine)
            if changed is not None:
                pos, _, value = next((m for m in moves if m[1] == changed), moves[-1])
                out.append(self._event(ri, device, changed, t, value, info.leaves[pos]))
        return out

    def _fleet(self, ri: int, changes: list[LeafChange], c: Committed | None) -> list[AlarmEvent]:
        comp = self.compiled
        info = comp.rules[ri]
        cond = info.rule.condition
        assert isinstance(cond, Fleet)
        areas = self.fleet.setdefault((info.stored.id, info.stored.version), {})
        by_area: dict[str, list[LeafChange]] = {}
        for ch in changes:
            by_area.setdefault(self._area(cond, ch[2]), []).append(ch)
        times = self._area_times(info.leaves[0], cond, c) if c is not None else {}
        out: list[AlarmEvent] = []
        empty = np.empty(0, np.int64)
        for name in set(by_area) | {n for n, a in areas.items() if a.since is not None}:
            area = areas.setdefault(name, FleetArea())
            if name not in by_area and name not in times:
                continue
            for t, up, members in fleet_run(
                area, by_area.get(name, []), times.get(name, empty), cond.min_devices, cond.for_
            ):
                out.append(self._area_event(ri, name, up, t, members))
        return out

    def _area_event(
        self, ri: int, name: str, up: bool, t: int, members: set[int] | frozenset[int]
    ) -> AlarmEvent:
        comp = self.compiled
        info = comp.rules[ri]
        ids = sorted(self.devices.by_key[d].id for d in members if d in self.devices.by_key)
        return AlarmEvent(
            info.stored.id, info.stored.version, name, "raised" if up else "cleared", t, None,
            self.metric_names.get(int(comp.p["metric"][info.leaves[0]])), None,
            {"devices": ids},
        )  # fmt: skip

    def _area_times(self, leaf: int, cond: Fleet, c: Committed) -> dict[str, I64]:
        """Reading times of the leaf's metric per area in this batch (a fleet's duration
        is checked at its devices' readings)."""
        comp = self.compiled
        devices = comp.slot_device[comp.slot_leaf == leaf]
        sel = (c.metric_id == int(comp.p["metric"][leaf])) & np.isin(c.device_key, devices)
        if not sel.any():
            return {}
        devs, ts = c.device_key[sel], c.time_us[sel]
        names = np.asarray([self._area(cond, int(d)) for d in devs.tolist()])
        return {str(n): np.sort(ts[names == n]) for n in np.unique(names).tolist()}

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

    def mark_active(self, keys: list[tuple[int, str]]) -> int:
        """Treat the conditions of these (rule, subject) pairs as holding (their alarms are
        active in the alarms table), so that none is raised a second time; returns how
        many were found. Clear runs in progress are forgotten: a clear has to be seen
        afresh."""
        comp = self.compiled
        by_rule = {info.stored.id: info for info in comp.rules}
        slot_of = {(k[0], k[2], k[3]): i for i, k in enumerate(comp.slot_keys)}
        chosen: list[int] = []
        found = 0
        for rule_id, subject in keys:
            info = by_rule.get(rule_id)
            if info is None:
                continue
            if info.combine == "fleet":
                areas = self.fleet.setdefault((rule_id, info.stored.version), {})
                areas.setdefault(subject, FleetArea()).active = True
                found += 1
                continue
            device = self.devices.by_id.get(subject)
            if device is None:
                continue
            if info.combine in ("all", "any"):
                key = (rule_id, info.stored.version, device.device_key)
                state = self.combos.setdefault(key, ComboState([False] * len(info.leaves)))
                state.active = True
                found += 1
                continue
            slot = slot_of.get((rule_id, 0, device.device_key))
            if slot is not None:
                chosen.append(slot)
                found += 1
        if chosen:
            idx = np.asarray(chosen, np.int64)
            self.state.active[idx] = True
            self.state.clear.length[idx] = 0
            self.state.clear.fired[idx] = False
            comp.filter_ix.refresh_busy(self._nonidle(), comp.filter_ix.slot_pos[idx])
            comp.nd_ix.refresh_busy(self.state.active, comp.nd_ix.slot_pos[idx])
        return found


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
        for a, b in ((ts.raise_, ss.raise_), (ts.clear, ss.clear)):
            a.start[dst], a.length[dst], a.fired[dst] = b.start[src], b.length[src], b.fired[src]
        target.nd_base[dst] = source.nd_base[src]
    _adopt_windows(target, source)
    target.combos.update(source.combos)
    target.fleet.update(source.fleet)
    for mine_ix, their_ix in (
        (target.compiled.filter_ix, source.compiled.filter_ix),
        (target.compiled.rate_ix, source.compiled.rate_ix),
        (target.compiled.win_ix, source.compiled.win_ix),
        (target.compiled.nd_ix, source.compiled.nd_ix),
    ):
        if mine_ix.size and their_ix.size:
            # Only positions the live evaluator has not seen yet take the replay's time:
            # the others keep theirs, so that readings committed during the rebuild (which
            # the replay may have read too) are still evaluated for the unchanged rules.
            pos, ok = their_ix.lookup(mine_ix.keys)
            fresh = ok & (mine_ix.last_t == NO_TIME)
            mine_ix.last_t[fresh] = their_ix.last_t[pos[fresh]]
            mine_ix.last_v[fresh] = their_ix.last_v[pos[fresh]]
            mine_ix.hot_until[fresh] = their_ix.hot_until[pos[fresh]]
    nonidle = target._nonidle()
    for ix in (target.compiled.filter_ix, target.compiled.rate_ix, target.compiled.win_ix):
        ix.refresh_busy(nonidle)
    target.compiled.nd_ix.refresh_busy(target.state.active)
    return len(pairs)


def _position_map(old: SlotIndex, new: SlotIndex) -> dict[int, int]:
    """Old position -> new position, for the keys both indexes have."""
    if not old.size or not new.size:
        return {}
    pos, ok = new.lookup(old.keys)
    return {
        int(o): int(n) for o, n in zip(np.flatnonzero(ok).tolist(), pos[ok].tolist(), strict=True)
    }


def _adopt_windows(target: Evaluator, source: Evaluator) -> None:
    """Window readings of positions the target has no readings for yet."""
    sw, tw = source.windows, target.windows
    if not len(sw):
        return
    moved = _position_map(source.compiled.win_ix, target.compiled.win_ix)
    have = set(np.unique(tw.slot).tolist())
    mapped = np.asarray([moved.get(s, -1) for s in sw.slot.tolist()], np.int64)
    take = (mapped >= 0) & ~np.isin(mapped, list(have))
    tw.slot = np.concatenate((tw.slot, mapped[take]))
    tw.t = np.concatenate((tw.t, sw.t[take]))
    tw.v = np.concatenate((tw.v, sw.v[take]))
    order = np.lexsort((tw.t, tw.slot))
    tw.slot, tw.t, tw.v = tw.slot[order], tw.t[order], tw.v[order]
