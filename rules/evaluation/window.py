"""What sliding windows need between batches and for minimum/maximum queries.

A :class:`WindowBuffer` keeps the recent readings of each window position (a metric of a
device; one set of flat arrays for all, sorted by position and time, trimmed to the
position's longest window after every batch), so a window spanning several batches sees
all its readings. ``sparse_table``/``range_query`` answer minimum and maximum over many
ranges at once. The aggregates themselves are in :mod:`rules.evaluation.choose`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .kernel import group_bounds

__all__ = ["WindowBuffer", "range_query", "sparse_table"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
_SPAN_BITS = 40  # time within one sort key: about 12.7 days of microseconds
_SLOT_LIMIT = 1 << (63 - _SPAN_BITS)


def sparse_table(values: F64, ufunc: np.ufunc) -> list[F64]:
    """Level k holds ufunc (minimum/maximum) over values[i..i + 2**k - 1]."""
    table = [values]
    k = 1
    while (1 << k) <= len(values):
        prev = table[-1]
        half = 1 << (k - 1)
        table.append(ufunc(prev[:-half], prev[half:]))
        k += 1
    return table


def range_query(table: list[F64], starts: I64, ends: I64, ufunc: np.ufunc) -> F64:
    """ufunc over values[starts[i]..ends[i]] (inclusive) for every i."""
    out = np.empty(len(starts), np.float64)
    level = np.floor(np.log2(ends - starts + 1)).astype(np.int64)
    for lv in np.unique(level).tolist():
        sel = np.flatnonzero(level == lv)
        tab = table[lv]
        out[sel] = ufunc(tab[starts[sel]], tab[ends[sel] - (1 << lv) + 1])
    return out


class WindowBuffer:
    """Recent readings of window slots, carried between batches, sorted by slot then
    time."""

    def __init__(self) -> None:
        self.slot: I64 = np.empty(0, np.int64)
        self.t: I64 = np.empty(0, np.int64)
        self.v: F64 = np.empty(0, np.float64)

    def __len__(self) -> int:
        return len(self.t)

    def _touched(self, slot: I64) -> B:
        size = int(max(slot.max(initial=-1), self.slot.max(initial=-1))) + 1
        touched = np.zeros(size, np.bool_)
        touched[slot] = True
        mask: B = touched[self.slot]
        return mask

    def merged(self, slot: I64, t: I64, v: F64) -> tuple[I64, I64, F64, B]:
        """The buffered rows of these slots plus the new rows (sorted by slot and time
        themselves), sorted by slot then time; the mask marks the new rows."""
        keep = self._touched(slot) if len(self.slot) else np.zeros(0, np.bool_)
        old_slot, old_t, old_v = self.slot[keep], self.t[keep], self.v[keep]
        all_slot = np.concatenate((old_slot, slot))
        all_t = np.concatenate((old_t, t))
        all_v = np.concatenate((old_v, v))
        new = np.concatenate((np.zeros(len(old_t), np.bool_), np.ones(len(t), np.bool_)))
        if not len(old_t):
            return all_slot, all_t, all_v, new
        base = int(all_t.min())
        if int(all_t.max()) - base < (1 << _SPAN_BITS) and int(all_slot.max()) < _SLOT_LIMIT:
            # Two sorted runs of one key: a stable sort merges them in linear time.
            order = np.argsort((all_slot << _SPAN_BITS) | (all_t - base), kind="stable")
        else:
            order = np.lexsort((all_t, all_slot))
        return all_slot[order], all_t[order], all_v[order], new[order]

    def store(self, slot: I64, t: I64, v: F64, window: I64) -> None:
        """Replace the buffered rows of these slots with the given (merged, sorted) rows,
        keeping only what the next window can still need."""
        if len(t) == 0:
            return
        _, _, last = group_bounds(slot)
        ends = np.flatnonzero(last)
        newest = np.repeat(t[ends], np.diff(np.concatenate(([-1], ends))))
        keep = t >= newest - window
        others = ~self._touched(slot) if len(self.slot) else np.zeros(0, np.bool_)
        all_slot = np.concatenate((self.slot[others], slot[keep]))
        all_t = np.concatenate((self.t[others], t[keep]))
        all_v = np.concatenate((self.v[others], v[keep]))
        order = np.argsort(all_slot, kind="stable")  # both parts sorted by time per slot
        self.slot, self.t, self.v = all_slot[order], all_t[order], all_v[order]

    def remap(self, old_to_new: dict[int, int]) -> None:
        """Follow a re-compilation: keep rows of slots that still exist, renumbered."""
        if not len(self.slot):
            return
        mapped = np.asarray([old_to_new.get(s, -1) for s in self.slot.tolist()], np.int64)
        keep = mapped >= 0
        order = np.argsort(mapped[keep], kind="stable")
        self.slot = mapped[keep][order]
        self.t, self.v = self.t[keep][order], self.v[keep][order]
