"""The debouncer every per-device condition shares, vectorised over a whole batch.

Input: observations grouped by *slot* (one slot = one condition on one device), in time
order within a slot, each marked ``hi`` (the raise level is met) or ``lo`` (the clear
level is met) or neither (between the two: hysteresis, nothing changes). A slot's
condition becomes **active** at the first observation of a run of consecutive ``hi``
observations that has lasted ``need_us`` (device time since the run's first observation)
and counted ``need_n`` observations; it becomes inactive likewise on a run of ``lo``.
A run may have started in an earlier batch: its start, length and whether it already
fired are carried per slot in :class:`SlotState`, so splitting the same observations
into batches differently gives the same transitions (what makes back-testing equal live
evaluation).

All of it is a fixed number of numpy passes over the batch: no Python per observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Runs", "SlotState", "Transitions", "debounce", "group_bounds"]

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]

NO_TIME = np.iinfo(np.int64).min


class Runs:
    """Carried state of one kind of run (raise or clear) per slot."""

    __slots__ = ("fired", "length", "start")

    def __init__(self, n: int) -> None:
        self.start: I64 = np.zeros(n, np.int64)
        self.length: I64 = np.zeros(n, np.int64)  # 0: no run in progress
        self.fired: B = np.zeros(n, np.bool_)


class SlotState:
    """Per slot: active or not, the raise and clear runs in progress, the time of the
    last observation evaluated (a rebuilt slot does not count a reading twice)."""

    __slots__ = ("active", "clear", "last_t", "raise_")

    def __init__(self, n: int = 0) -> None:
        self.active: B = np.zeros(n, np.bool_)
        self.raise_ = Runs(n)
        self.clear = Runs(n)
        self.last_t: I64 = np.full(n, NO_TIME, np.int64)

    def __len__(self) -> int:
        return len(self.active)

    def remap(self, old_index: I64) -> SlotState:
        """New state whose slot ``i`` is old slot ``old_index[i]`` (-1: a fresh slot)."""
        out = SlotState(len(old_index))
        have = old_index >= 0
        src = old_index[have]
        out.active[have] = self.active[src]
        out.last_t[have] = self.last_t[src]
        for mine, theirs in ((out.raise_, self.raise_), (out.clear, self.clear)):
            mine.start[have] = theirs.start[src]
            mine.length[have] = theirs.length[src]
            mine.fired[have] = theirs.fired[src]
        return out


def group_bounds(slot: I64) -> tuple[B, I64, B]:
    """For slot-sorted observations: is-first-of-its-slot, the index of its slot's first
    observation, is-last-of-its-slot."""
    n = len(slot)
    first = np.ones(n, np.bool_)
    last = np.ones(n, np.bool_)
    if n > 1:
        same = slot[1:] == slot[:-1]
        first[1:] = ~same
        last[:-1] = ~same
    g0 = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return first, g0, last


@dataclass(frozen=True, slots=True)
class Transitions:
    """Where the debouncer changed a slot's state: indexes into the observations."""

    raised: I64
    cleared: I64


def _runs(
    flag: B,
    t: I64,
    slot: I64,
    first: B,
    g0: I64,
    last: B,
    need_us: I64,
    need_n: I64,
    runs: Runs,
) -> B:
    """The observations where a run of ``flag`` reaches its duration and count (at most
    one per run); updates ``runs`` for the slots' last observations."""
    n = len(flag)
    idx = np.arange(n)
    prev = np.empty(n, np.bool_)
    prev[1:] = flag[:-1]
    prev[first] = runs.length[slot[first]] > 0
    cont = flag & prev  # continues the run of the previous observation (or the carried one)
    start = flag & ~cont
    s_idx = np.maximum.accumulate(np.where(start, idx, -1))
    carried = flag & (s_idx < g0)  # the run began before this batch
    safe = np.maximum(s_idx, 0)
    run_t0 = np.where(carried, runs.start[slot], t[safe])
    run_len = np.where(carried, runs.length[slot] + (idx - g0 + 1), idx - safe + 1)
    fired_before = carried & runs.fired[slot]
    qual = flag & (t - run_t0 >= need_us) & (run_len >= need_n) & ~fired_before
    prev_qual = np.zeros(n, np.bool_)
    prev_qual[1:] = qual[:-1]
    point = qual & ~(prev_qual & cont & ~first)
    # Carry the run state of each slot's last observation.
    ls = slot[last]
    in_run = flag[last]
    runs.length[ls] = np.where(in_run, run_len[last], 0)
    runs.start[ls] = np.where(in_run, run_t0[last], 0)
    runs.fired[ls] = in_run & (fired_before[last] | qual[last])
    return point


def debounce(
    slot: I64,
    t: I64,
    hi: B,
    lo: B,
    need_hi_us: I64,
    need_hi_n: I64,
    need_lo_us: I64,
    need_lo_n: I64,
    state: SlotState,
) -> Transitions:
    """Run the debouncer over slot-sorted, time-ordered observations (``hi`` wins where
    both are set), updating ``state``; returns where slots became active or inactive."""
    n = len(t)
    if n == 0:
        empty = np.empty(0, np.int64)
        return Transitions(empty, empty)
    lo = lo & ~hi
    first, g0, last = group_bounds(slot)
    up = _runs(hi, t, slot, first, g0, last, need_hi_us, need_hi_n, state.raise_)
    down = _runs(lo, t, slot, first, g0, last, need_lo_us, need_lo_n, state.clear)
    idx = np.arange(n)
    has = up | down
    e_idx = np.maximum.accumulate(np.where(has, idx, -1))
    carried_active = state.active[slot]
    after = np.where(e_idx >= g0, up[np.maximum(e_idx, 0)], carried_active)
    before = np.empty(n, np.bool_)
    before[1:] = after[:-1]
    before[first] = carried_active[first]
    raised = np.flatnonzero(up & ~before)
    cleared = np.flatnonzero(down & before)
    state.active[slot[last]] = after[last]
    return Transitions(raised, cleared)
