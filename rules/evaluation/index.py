"""Where a reading goes: from (metric, device) to the slots of the conditions watching it,
with per-(metric, device) summaries that let most readings skip evaluation entirely.

One index per kind of condition (filter: threshold, consecutive, state; rate; window;
no-data), each summarising its slots per position: the lowest raise level, the highest
"below" level, the watched states, how many slots are busy, the longest gap or window,
the newest reading. :mod:`rules.evaluation.choose` uses them to pick the readings that could start,
continue or end something; in a calm city that is nearly none, which is what makes a
thousand rules cheap. No-data positions only need the newest reading's time, except
around a long gap or while a slot is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .kernel import NO_TIME

__all__ = ["SlotIndex", "build_index", "composite"]

_DENSE_MAX = 8_000_000  # entries (32 MB) per index

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def composite(metric: npt.NDArray[np.integer], device: npt.NDArray[np.integer]) -> I64:
    """One sortable key per (metric, device); metric -1 (any metric) sorts first."""
    return ((metric.astype(np.int64) + 1) << 32) | device.astype(np.int64)


@dataclass(slots=True)
class SlotIndex:
    """Positions (distinct (metric, device) keys) and their slots."""

    keys: I64
    starts: I64
    counts: I64
    slots: I64  # grouped by position
    slot_pos: I64  # per slot of the whole compilation: its position here, or -1
    last_t: I64  # per position: newest reading time seen
    gt_min: F64  # filter: lowest "above" threshold of the position's slots
    lt_max: F64  # filter: highest "below" threshold
    state_mask: I64  # filter: states any slot watches
    busy: I64  # filter / no-data: slots that are not idle
    min_wait: I64  # no-data: shortest allowed silence
    # A direct table (metric + 1) * stride + device -> position + 1 (0: none), when it
    # is small enough: a gather instead of a binary search per reading.
    dense: npt.NDArray[np.int32] | None = None
    stride: int = 0
    # rate / window: the newest reading's value, the longest gap or window of the
    # position's slots, and until when a reading beyond a threshold is in a window.
    last_v: F64 = field(default_factory=lambda: np.empty(0))
    max_span: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    hot_until: I64 = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def size(self) -> int:
        """How many positions."""
        return len(self.keys)

    def lookup_md(self, metric: I64, device: I64) -> tuple[I64, B]:
        """Position of each (metric, device), and whether it is indexed at all."""
        if self.dense is None:
            return self.lookup(composite(metric, device))
        idx = (metric + 1) * self.stride + device
        inside = (device >= 0) & (device < self.stride) & (idx >= 0) & (idx < len(self.dense))
        pos = self.dense[np.where(inside, idx, 0)].astype(np.int64) - 1
        ok = inside & (pos >= 0)
        return np.maximum(pos, 0), ok

    def lookup(self, keys: I64) -> tuple[I64, B]:
        """Position of each key, and whether it is indexed at all."""
        if not len(self.keys):
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), np.bool_)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return pos.astype(np.int64), self.keys[pos] == keys

    def expand(self, pos: I64) -> tuple[I64, I64]:
        """(index into ``pos``, slot) for every slot at each position."""
        counts = self.counts[pos]
        total = int(counts.sum())
        which = np.repeat(np.arange(len(pos), dtype=np.int64), counts)
        offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return which, self.slots[np.repeat(self.starts[pos], counts) + offset]

    def refresh_busy(self, nonidle: B, positions: I64 | None = None) -> None:
        """Recount the non-idle slots of ``positions`` (all when None)."""
        if not self.size:
            return
        if positions is None:
            positions = np.arange(self.size, dtype=np.int64)
        positions = np.unique(positions)
        if not len(positions):
            return
        which, slots = self.expand(positions)
        self.busy[positions] = np.bincount(
            which, weights=nonidle[slots].astype(np.float64), minlength=len(positions)
        ).astype(np.int64)

    def carry_from(self, old: SlotIndex) -> None:
        """Take the last-seen times of positions that existed before."""
        if not old.size or not self.size:
            return
        pos, ok = old.lookup(self.keys)
        self.last_t[ok] = old.last_t[pos[ok]]
        self.last_v[ok] = old.last_v[pos[ok]]
        self.hot_until[ok] = old.hot_until[pos[ok]]


def build_index(
    slots: I64,
    slot_metric: I64,
    slot_device: I64,
    n_slots: int,
    gt: F64 | None = None,
    lt: F64 | None = None,
    mask: I64 | None = None,
    wait: I64 | None = None,
    span: I64 | None = None,
) -> SlotIndex:
    """An index over ``slots`` (a subset of all slots), keyed by their metric and device;
    ``gt``/``lt``/``mask``/``wait``/``span`` are per-slot values summarised per position
    (lowest, highest, or, lowest, highest)."""
    keys_all = composite(slot_metric[slots], slot_device[slots])
    order = np.argsort(keys_all, kind="stable")
    ordered = slots[order]
    keys, starts, counts = np.unique(keys_all[order], return_index=True, return_counts=True)
    n = len(keys)
    slot_pos = np.full(n_slots, -1, np.int64)
    slot_pos[ordered] = np.repeat(np.arange(n, dtype=np.int64), counts)
    index = SlotIndex(
        keys.astype(np.int64), starts.astype(np.int64), counts.astype(np.int64),
        ordered.astype(np.int64), slot_pos, np.full(n, NO_TIME, np.int64),
        np.full(n, np.inf), np.full(n, -np.inf), np.zeros(n, np.int64), np.zeros(n, np.int64),
        np.zeros(n, np.int64),
    )  # fmt: skip
    index.last_v = np.full(n, np.nan)
    index.max_span = np.zeros(n, np.int64)
    index.hot_until = np.full(n, NO_TIME, np.int64)
    if n == 0:
        return index
    group = slot_pos[ordered]
    if span is not None:
        np.maximum.at(index.max_span, group, span[ordered])
    if gt is not None:
        np.minimum.at(index.gt_min, group, gt[ordered])
    if lt is not None:
        np.maximum.at(index.lt_max, group, lt[ordered])
    if mask is not None:
        np.bitwise_or.at(index.state_mask, group, mask[ordered])
    if wait is not None:
        index.min_wait[:] = np.iinfo(np.int64).max
        np.minimum.at(index.min_wait, group, wait[ordered])
    metrics = (index.keys >> 32).astype(np.int64)  # metric + 1
    devices = (index.keys & 0xFFFFFFFF).astype(np.int64)
    stride = int(devices.max()) + 1
    size = (int(metrics.max()) + 1) * stride
    if size <= _DENSE_MAX:
        dense = np.zeros(size, np.int32)
        dense[metrics * stride + devices] = np.arange(1, n + 1, dtype=np.int32)
        index.dense, index.stride = dense, stride
    return index
