"""Which (reading, condition) pairs are worth evaluating: per *position* (a metric of a
device), a reading matters only if it could start, continue or end something; every other
reading only moves the position's last-seen time. Once something may start at a position
in a batch, every later reading of it there counts too (it may continue or break a run).

* threshold, consecutive, state: the reading is beyond the lowest raise level of a slot
  there, in a watched state, or a slot there is busy (active or in a run); pairs are then
  pruned per slot the same way;
* rate: the rate since the previous reading (shared by the position's slots) could pass a
  slot's raise level, or a slot there is busy;
* window: the reading is beyond a slot's raise level, or one that was is still inside the
  longest window at the position (``hot_until``), or a slot is busy. An average, maximum,
  minimum or percentile cannot pass a level none of its readings passes. Sums and counts
  are always evaluated.

Otherwise the reading only moves the position's last reading (and joins the window
buffer). The values for the debouncer (the rate in the slot's unit per ``per``, the
window's aggregate) are computed here for the chosen (reading, slot) pairs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.feed import Committed

from .compile import AGGS, Compiled
from .index import SlotIndex
from .kernel import NO_TIME, group_bounds
from .window import WindowBuffer, range_query, sparse_table

__all__ = ["Chosen", "rate_pairs", "threshold_pairs", "window_pairs"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
_MAX = np.iinfo(np.int64).max


@dataclass(slots=True)
class Chosen:
    """(reading, slot) pairs to evaluate, each with its value for the debouncer."""

    ridx: I64
    slot: I64
    x: F64
    skipped: int
    fresh: int


def _empty() -> Chosen:
    e = np.empty(0, np.int64)
    return Chosen(e, e, np.empty(0), 0, 0)


def _fresh_sorted(
    ix: SlotIndex, c: Committed, met: I64, dev: I64
) -> tuple[I64, I64, I64, F64, int]:
    """The readings at the index's positions that are newer than its last one, sorted by
    position then time, one per (position, time): (reading index, position, time, value,
    how many were not newer)."""
    pos, ok = ix.lookup_md(met, dev)
    sel = np.flatnonzero(ok)
    p, t = pos[sel], c.time_us[sel]
    fresh = t > ix.last_t[p]
    stale = len(fresh) - int(np.count_nonzero(fresh))
    sel, p, t = sel[fresh], p[fresh], t[fresh]
    order = np.lexsort((t, p))
    sel, p, t = sel[order], p[order], t[order]
    if len(t) > 1:
        keep = np.ones(len(t), np.bool_)
        keep[1:] = (p[1:] != p[:-1]) | (t[1:] != t[:-1])
        sel, p, t = sel[keep], p[keep], t[keep]
    return sel, p, t, c.value[sel], stale


def _from_first(want: B, group: I64, t: I64, size: int) -> B:
    """Once something may start in a group, every later reading of it counts too."""
    if not want.any():
        return want
    start = np.full(size, _MAX, np.int64)
    np.minimum.at(start, group[want], t[want])
    result: B = t >= start[group]
    return result


def _in_states(mask: I64, v: F64) -> B:
    """Whether each state index ``v`` is one of the states in ``mask``."""
    shift = np.clip(np.nan_to_num(v), 0, 62).astype(np.int64)
    result: B = ((mask >> shift) & 1).astype(np.bool_)
    return result


def threshold_pairs(
    comp: Compiled, nonidle: B, c: Committed, met: I64, dev: I64, prefilter: bool
) -> Chosen:
    """The threshold, consecutive and state pairs of a batch (each compares the value)."""
    ix = comp.filter_ix
    if not ix.size:
        return _empty()
    pos, ok = ix.lookup_md(met, dev)
    sel = np.flatnonzero(ok)
    p, t = pos[sel], c.time_us[sel]
    fresh = t > ix.last_t[p]
    n_fresh = int(np.count_nonzero(fresh))
    want = fresh
    if prefilter:
        v = c.value[sel]
        want = fresh & ((v > ix.gt_min[p]) | (v < ix.lt_max[p]) | (ix.busy[p] > 0))
        maybe = fresh & ~want & (ix.state_mask[p] != 0)
        if maybe.any():
            want[maybe] = _in_states(ix.state_mask[p[maybe]], v[maybe])
        want = fresh & _from_first(want, p, t, ix.size)
    np.maximum.at(ix.last_t, p[fresh], t[fresh])
    chosen = sel[want]
    which, slots = ix.expand(pos[chosen])
    rows = chosen[which]
    if prefilter and len(rows):
        v = c.value[rows]
        may = (v > comp.slot_gt[slots]) | (v < comp.slot_lt[slots]) | nonidle[slots]
        st = ~may & (comp.slot_state_mask[slots] != 0)
        if st.any():
            may[st] = _in_states(comp.slot_state_mask[slots[st]], v[st])
        keep = _from_first(may, slots, c.time_us[rows], comp.n_slots)
        rows, slots = rows[keep], slots[keep]
    return Chosen(rows, slots, c.value[rows], len(sel) - n_fresh, n_fresh)


def _remember_last(ix: SlotIndex, p: I64, t: I64, v: F64) -> None:
    _, _, last = group_bounds(p)
    ix.last_t[p[last]] = t[last]
    ix.last_v[p[last]] = v[last]


def rate_pairs(
    comp: Compiled, nonidle: B, c: Committed, met: I64, dev: I64, prefilter: bool
) -> Chosen:
    """The rate pairs of a batch, with each pair's rate in its slot's unit."""
    ix = comp.rate_ix
    if not ix.size:
        return _empty()
    sel, p, t, v, stale = _fresh_sorted(ix, c, met, dev)
    if not len(sel):
        return Chosen(sel, sel, np.empty(0), stale, 0)
    first, _, _ = group_bounds(p)
    pt = np.empty(len(t), np.int64)
    pv = np.empty(len(t), np.float64)
    pt[1:], pv[1:] = t[:-1], v[:-1]
    pt[first], pv[first] = ix.last_t[p[first]], ix.last_v[p[first]]
    dt = t - pt
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((pt != NO_TIME) & (dt > 0) & (dt <= ix.max_span[p]), (v - pv) / dt, np.nan)
    if prefilter:
        want = (r > ix.gt_min[p]) | (r < ix.lt_max[p]) | (ix.busy[p] > 0)
        want = _from_first(want, p, t, ix.size)
    else:
        want = np.ones(len(t), np.bool_)
    _remember_last(ix, p, t, v)
    chosen = np.flatnonzero(want)
    which, slots = ix.expand(p[chosen])
    rows = chosen[which]
    leaf = comp.slot_leaf[slots]
    ok = dt[rows] <= comp.p["max_gap_us"][leaf]
    x = np.where(ok, r[rows] * comp.p["per_us"][leaf], np.nan)
    if prefilter and len(rows):
        may = (x > comp.slot_gt[slots]) | (x < comp.slot_lt[slots]) | nonidle[slots]
        keep = _from_first(may, slots, t[rows], comp.n_slots)
        rows, slots, x = rows[keep], slots[keep], x[keep]
    return Chosen(sel[rows], slots, x, stale, len(sel))


def window_pairs(
    comp: Compiled,
    buffer: WindowBuffer,
    c: Committed,
    met: I64,
    dev: I64,
    prefilter: bool,
) -> Chosen:
    """The window pairs of a batch, with each pair's aggregate over its slot's window.
    Every fresh reading joins the buffer, chosen or not."""
    ix = comp.win_ix
    if not ix.size:
        return _empty()
    sel, p, t, v, stale = _fresh_sorted(ix, c, met, dev)
    if not len(sel):
        return Chosen(sel, sel, np.empty(0), stale, 0)
    ms, mt, mv, new = buffer.merged(p, t, v)
    row_of = np.flatnonzero(new)  # merged row of each fresh reading (same order)
    if prefilter:
        beyond = (v > ix.gt_min[p]) | (v < ix.lt_max[p])
        want = beyond | (t <= ix.hot_until[p]) | (ix.busy[p] > 0)
        want = _from_first(want, p, t, ix.size)
        if beyond.any():
            np.maximum.at(ix.hot_until, p[beyond], t[beyond] + ix.max_span[p[beyond]])
    else:
        want = np.ones(len(t), np.bool_)
    _remember_last(ix, p, t, v)
    chosen = np.flatnonzero(want)
    which, slots = ix.expand(p[chosen])
    rows = row_of[chosen[which]]
    x = _aggregates(comp, slots, rows, ms, mt, mv)
    buffer.store(ms, mt, mv, ix.max_span[ms])
    return Chosen(sel[chosen[which]], slots, x, stale, len(sel))


def _aggregates(comp: Compiled, slots: I64, rows: I64, ms: I64, mt: I64, mv: F64) -> F64:
    """Each pair's aggregate over the merged buffer rows of its position, from its
    reading's time back by its slot's window (both ends included)."""
    x = np.full(len(rows), np.nan)
    if not len(rows):
        return x
    leaf = comp.slot_leaf[slots]
    window = comp.p["window_us"][leaf]
    agg = comp.p["agg"][leaf]
    first, _, _ = group_bounds(ms)
    g = np.cumsum(first) - 1
    base = int(mt.min()) - int(window.max()) - 1
    span = int(mt.max()) - base + 1
    if (int(g[-1]) + 1) * span < 2**62:
        key = g * span + (mt - base)
        lo = g[rows] * span + np.maximum(mt[rows] - window - base, 0)
        starts = np.searchsorted(key, lo, side="left").astype(np.int64)
    else:  # a span too wide for one key: per pair (rare: readings far apart in time)
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(ms)), 0))
        starts = np.asarray(
            [gs + np.searchsorted(mt[gs : r + 1], mt[r] - w, side="left")
             for gs, r, w in zip(group_start[rows].tolist(), rows.tolist(), window.tolist(),
                                 strict=True)],
            np.int64,
        )  # fmt: skip
    count = rows - starts + 1
    for code in np.unique(agg).tolist():
        sel = np.flatnonzero(agg == code)
        s, r = starts[sel], rows[sel]
        if code in (AGGS["avg"], AGGS["sum"]):
            cs = np.concatenate(([0.0], np.cumsum(mv)))
            sums = cs[r + 1] - cs[s]
            x[sel] = sums / count[sel] if code == AGGS["avg"] else sums
        elif code == AGGS["count"]:
            x[sel] = count[sel]
        elif code in (AGGS["min"], AGGS["max"]):
            ufunc = np.minimum if code == AGGS["min"] else np.maximum
            x[sel] = range_query(sparse_table(mv, ufunc), s, r, ufunc)
        else:
            q = comp.p["q"][leaf]
            for i in sel.tolist():
                x[i] = np.percentile(mv[starts[i] : rows[i] + 1], q[i])
    x[count < comp.p["min_count"][leaf]] = np.nan
    return x
