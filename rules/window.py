"""Sliding-window aggregates per slot, vectorised: avg, min, max, sum, count over the
readings of the last ``window`` (device time, inclusive), and percentiles.

A :class:`WindowBuffer` keeps each window slot's recent readings between batches (one set
of flat arrays for all slots, trimmed to each slot's window after every batch), so a
window spanning several batches sees all its readings.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .kernel import group_bounds

__all__ = ["WindowBuffer", "aggregate"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
AVG, MIN, MAX, SUM, COUNT, PERCENTILE = range(6)


def _window_starts(slot: I64, t: I64, window: I64) -> I64:
    """For slot-then-time sorted rows: index of the first row of the same slot with
    time >= t - window."""
    n = len(t)
    if n == 0:
        return np.empty(0, np.int64)
    first, g0, _ = group_bounds(slot)
    # Rank slots 0..G-1 and offset times so one searchsorted serves every group.
    g = np.cumsum(first) - 1
    base = int(t.min()) - int(window.max()) - 1
    span = int(t.max()) - base + 1
    if (int(g[-1]) + 1) * span < 2**62:
        key = g * span + (t - base)
        lo = g * span + np.maximum(t - window - base, 0)
        found: I64 = np.searchsorted(key, lo, side="left").astype(np.int64)
        return found
    starts = np.empty(n, np.int64)  # too wide a span for one key: per group
    for s in np.flatnonzero(first).tolist():
        e = s
        while e < n and g[e] == g[s]:
            e += 1
        starts[s:e] = s + np.searchsorted(t[s:e], t[s:e] - window[s:e], side="left")
    del g0
    return starts


def _range_reduce(values: F64, starts: I64, ufunc: np.ufunc) -> F64:
    """ufunc (minimum/maximum) over values[starts[i]..i] for every i: a sparse table."""
    n = len(values)
    table = [values]
    k = 1
    while (1 << k) <= n:
        prev = table[-1]
        half = 1 << (k - 1)
        table.append(ufunc(prev[:-half], prev[half:]))
        k += 1
    idx = np.arange(n)
    length = idx - starts + 1
    level = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(n, np.float64)
    for lv in np.unique(level).tolist():
        sel = np.flatnonzero(level == lv)
        tab = table[lv]
        a = tab[starts[sel]]
        b = tab[sel - (1 << lv) + 1]
        out[sel] = ufunc(a, b)
    return out


def aggregate(
    slot: I64, t: I64, v: F64, window: I64, agg: I64, q: F64, want: npt.NDArray[np.bool_]
) -> tuple[F64, I64]:
    """Aggregate and count of each row's window, for the rows in ``want`` (others NaN)."""
    n = len(t)
    x = np.full(n, np.nan)
    starts = _window_starts(slot, t, window)
    count = np.arange(n) - starts + 1
    if n == 0:
        return x, count
    cs = np.concatenate(([0.0], np.cumsum(v)))
    sums = cs[np.arange(1, n + 1)] - cs[starts]
    for code in np.unique(agg[want]).tolist():
        sel = want & (agg == code)
        if code == AVG:
            x[sel] = sums[sel] / count[sel]
        elif code == SUM:
            x[sel] = sums[sel]
        elif code == COUNT:
            x[sel] = count[sel]
        elif code in (MIN, MAX):
            red = _range_reduce(v, starts, np.minimum if code == MIN else np.maximum)
            x[sel] = red[sel]
        else:
            for i in np.flatnonzero(sel).tolist():
                x[i] = np.percentile(v[starts[i] : i + 1], q[i])
    return x, count


class WindowBuffer:
    """Recent readings of window slots, carried between batches."""

    def __init__(self) -> None:
        self.slot: I64 = np.empty(0, np.int64)
        self.t: I64 = np.empty(0, np.int64)
        self.v: F64 = np.empty(0, np.float64)

    def __len__(self) -> int:
        return len(self.t)

    def merged(self, slot: I64, t: I64, v: F64) -> tuple[I64, I64, F64, npt.NDArray[np.bool_]]:
        """Buffer plus new rows, sorted by slot then time; the mask marks the new rows."""
        keep = np.isin(self.slot, np.unique(slot))
        all_slot = np.concatenate((self.slot[keep], slot))
        all_t = np.concatenate((self.t[keep], t))
        all_v = np.concatenate((self.v[keep], v))
        new = np.concatenate((np.zeros(int(keep.sum()), np.bool_), np.ones(len(t), np.bool_)))
        order = np.lexsort((~new, all_t, all_slot))
        return all_slot[order], all_t[order], all_v[order], new[order]

    def store(self, slot: I64, t: I64, v: F64, window: I64) -> None:
        """Replace the buffered rows of these slots with the given (merged) rows, keeping
        only what the next window can still need."""
        if len(t) == 0:
            return
        _, _, last = group_bounds(slot)
        newest = np.repeat(t[last], np.diff(np.concatenate(([0], np.flatnonzero(last) + 1))))
        keep = t >= newest - window
        others = ~np.isin(self.slot, np.unique(slot))
        self.slot = np.concatenate((self.slot[others], slot[keep]))
        self.t = np.concatenate((self.t[others], t[keep]))
        self.v = np.concatenate((self.v[others], v[keep]))

    def remap(self, old_to_new: dict[int, int]) -> None:
        """Follow a re-compilation: keep rows of slots that still exist, renumbered."""
        if not len(self.slot):
            return
        mapped = np.asarray([old_to_new.get(s, -1) for s in self.slot.tolist()], np.int64)
        keep = mapped >= 0
        self.slot, self.t, self.v = mapped[keep], self.t[keep], self.v[keep]
