"""Rules compiled against the device registry: one *leaf* per single-metric condition,
one *slot* per (leaf, device in scope), numeric parameter arrays per leaf, and per metric
an index from device key to its slots, so a batch's readings become (slot, reading)
pairs with a few numpy operations, whatever the number of rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from device_profiles import ProfileRegistry

from ..definition.model import (
    AllOf,
    AnyOf,
    Consecutive,
    Fleet,
    Leaf,
    NoData,
    Rate,
    Rule,
    StateIs,
    Threshold,
    Window,
)
from .devices import DeviceTable
from .index import SlotIndex, build_index

__all__ = [
    "AGGS",
    "ANY_METRIC",
    "KIND",
    "Compiled",
    "RuleInfo",
    "StoredRule",
    "compile_rules",
]

ANY_METRIC = -1
KIND = {"threshold": 0, "consecutive": 1, "rate": 2, "window": 3, "state": 4, "no_data": 5}
AGGS = {"avg": 0, "min": 1, "max": 2, "sum": 3, "count": 4, "percentile": 5}
WHEN = {"always": 0, "daylight": 1, "night": 2}
SIMPLE, PART, FLEET = 0, 1, 2

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule as stored: its id and version identify its evaluation state."""

    id: int
    version: int
    rule: Rule


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A compiled rule: where its leaves are and how they combine."""

    index: int
    stored: StoredRule
    leaves: tuple[int, ...]
    combine: str  # "simple", "all", "any", "fleet"

    @property
    def rule(self) -> Rule:
        """The rule definition."""
        return self.stored.rule


def _empty_index() -> SlotIndex:
    e = np.empty(0, np.int64)
    return build_index(e, e, e, 0)


@dataclass(slots=True)
class Compiled:
    """Everything the evaluator needs, as arrays."""

    rules: list[RuleInfo] = field(default_factory=list)
    leaf_rule: list[int] = field(default_factory=list)
    leaf_role: list[int] = field(default_factory=list)
    leaf_defs: list[Leaf] = field(default_factory=list)
    # Per leaf, numeric parameters (filled by _params).
    p: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    slot_leaf: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    slot_device: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    slot_nodata_us: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    slot_state_mask: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    slot_gt: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    slot_lt: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    slot_keys: list[tuple[int, int, int, int]] = field(default_factory=list)
    filter_ix: SlotIndex = field(default_factory=_empty_index)
    rate_ix: SlotIndex = field(default_factory=_empty_index)
    win_ix: SlotIndex = field(default_factory=_empty_index)
    nd_ix: SlotIndex = field(default_factory=_empty_index)
    leaf_rule_np: I64 = field(default_factory=lambda: np.empty(0, np.int64))
    leaf_role_np: I64 = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def n_slots(self) -> int:
        """How many (leaf, device) slots there are."""
        return len(self.slot_leaf)


def _metric_of(leaf: Leaf) -> str | None:
    return leaf.metric


def _compare_params(leaf: Threshold | Consecutive | Rate | Window) -> tuple[float, ...]:
    """(hi_gt, hi_lt, clr_lo, clr_hi): hi when v > hi_gt or v < hi_lt; lo when
    clr_lo <= v <= clr_hi."""
    inf = float("inf")
    if leaf.above is not None:
        c = leaf.clear if isinstance(leaf.clear, float | int) else leaf.above
        return leaf.above, -inf, -inf, float(c)
    if leaf.below is not None:
        c = leaf.clear if isinstance(leaf.clear, float | int) else leaf.below
        return inf, leaf.below, float(c), inf
    assert leaf.outside is not None
    lo, hi = leaf.outside
    band = leaf.clear if isinstance(leaf.clear, tuple) else (lo, hi)
    return hi, lo, band[0], band[1]


def _leaf_row(
    leaf: Leaf, metric_ids: dict[str, int], profiles: ProfileRegistry
) -> dict[str, float]:
    inf = float("inf")
    row: dict[str, float] = {
        "kind": KIND[leaf.kind],
        "hi_gt": inf,
        "hi_lt": -inf,
        "clr_lo": -inf,
        "clr_hi": inf,
        "need_hi_us": 0,
        "need_hi_n": 1,
        "need_lo_us": 0,
        "need_lo_n": 1,
        "state_mask": 0,
        "when": 0,
        "per_us": 0,
        "max_gap_us": 0,
        "window_us": 0,
        "agg": 0,
        "q": 0,
        "min_count": 1,
    }
    name = _metric_of(leaf)
    row["metric"] = ANY_METRIC if name is None else metric_ids[name]
    if isinstance(leaf, Threshold | Consecutive | Rate | Window):
        row["hi_gt"], row["hi_lt"], row["clr_lo"], row["clr_hi"] = _compare_params(leaf)
    if isinstance(leaf, Threshold | Rate | Window | StateIs):
        row["need_hi_us"], row["need_lo_us"] = leaf.for_, leaf.clear_for
    if isinstance(leaf, Consecutive):
        row["need_hi_n"], row["need_lo_n"] = leaf.count, leaf.clear_count
    if isinstance(leaf, Rate):
        row["per_us"], row["max_gap_us"] = leaf.per, leaf.max_gap
    if isinstance(leaf, Window):
        row["window_us"], row["agg"] = leaf.window, AGGS[leaf.agg]
        row["q"], row["min_count"] = leaf.q or 0, leaf.min_count
    if isinstance(leaf, StateIs):
        row["when"] = WHEN[leaf.when]
    return row


def _state_mask(leaf: StateIs, profile_states: tuple[str, ...]) -> int:
    mask = 0
    for s in leaf.in_:
        if s in profile_states:
            mask |= 1 << profile_states.index(s)
    return mask


def compile_rules(
    rules: Sequence[StoredRule],
    devices: DeviceTable,
    profiles: ProfileRegistry,
    metric_ids: dict[str, int],
) -> Compiled:
    """Compile enabled rules against the current devices. Rules are expected to have
    passed :func:`rules.definition.check.check_rule`; devices whose profile lacks a leaf's metric
    get no slot for it."""
    out = Compiled()
    rows: list[dict[str, float]] = []
    leaf_parts: list[I64] = []
    dev_parts: list[I64] = []
    nd_parts: list[I64] = []
    mask_parts: list[I64] = []
    names = devices.profile_names
    known = [profiles.get(n) if n in profiles else None for n in names]
    for stored in rules:
        rule = stored.rule
        if not rule.enabled:
            continue
        c = rule.condition
        combine = (
            "all"
            if isinstance(c, AllOf)
            else "any"
            if isinstance(c, AnyOf)
            else "fleet"
            if isinstance(c, Fleet)
            else "simple"
        )
        role = {"simple": SIMPLE, "fleet": FLEET}.get(combine, PART)
        members = devices.select(rule.scope)
        member_profiles = devices.profile[members]
        first_leaf = len(rows)
        for li, leaf in enumerate(rule.leaves()):
            leaf_index = len(rows)
            rows.append(_leaf_row(leaf, metric_ids, profiles))
            out.leaf_rule.append(len(out.rules))
            out.leaf_role.append(role)
            out.leaf_defs.append(leaf)
            name = _metric_of(leaf)
            # Per profile of the fleet: has the metric? state mask, no-data wait.
            has = np.zeros(len(names), np.bool_)
            mask = np.zeros(len(names), np.int64)
            wait = np.zeros(len(names), np.int64)
            for code, prof in enumerate(known):
                if prof is None or (name is not None and name not in prof.metrics):
                    continue
                has[code] = True
                if isinstance(leaf, StateIs):
                    mask[code] = _state_mask(leaf, prof.metrics[leaf.metric].states or ())
                if isinstance(leaf, NoData):
                    wait[code] = (
                        leaf.for_
                        if leaf.for_ is not None
                        else round(prof.reporting_interval_s * leaf.interval_factor * 1_000_000)
                    )
            mine = members[has[member_profiles]] if len(members) else members
            codes = devices.profile[mine]
            keys = devices.keys[mine]
            leaf_parts.append(np.full(len(mine), leaf_index, np.int64))
            dev_parts.append(keys)
            nd_parts.append(wait[codes])
            mask_parts.append(mask[codes])
            out.slot_keys.extend((stored.id, stored.version, li, k) for k in keys.tolist())
        out.rules.append(
            RuleInfo(len(out.rules), stored, tuple(range(first_leaf, len(rows))), combine)
        )
    out.slot_leaf = _cat(leaf_parts)
    out.slot_device = _cat(dev_parts)
    out.slot_nodata_us = _cat(nd_parts)
    out.slot_state_mask = _cat(mask_parts)
    columns = (
        rows[0].keys() if rows else _leaf_row(NoData(kind="no_data"), metric_ids, profiles).keys()
    )
    for k in columns:
        dtype = np.float64 if k in ("hi_gt", "hi_lt", "clr_lo", "clr_hi", "q") else np.int64
        out.p[k] = np.asarray([r[k] for r in rows], dtype=dtype)
    out.slot_gt = out.p["hi_gt"][out.slot_leaf] if rows else np.empty(0)
    out.slot_lt = out.p["hi_lt"][out.slot_leaf] if rows else np.empty(0)
    _indexes(out)
    out.leaf_rule_np = np.asarray(out.leaf_rule, np.int64)
    out.leaf_role_np = np.asarray(out.leaf_role, np.int64)
    return out


def _cat(parts: list[I64]) -> I64:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


def _indexes(c: Compiled) -> None:
    n = c.n_slots
    kind = c.p["kind"][c.slot_leaf] if n else np.empty(0, np.int64)
    metric = c.p["metric"].astype(np.int64)[c.slot_leaf] if n else np.empty(0, np.int64)
    every = np.arange(n, dtype=np.int64)
    filt = every[np.isin(kind, (KIND["threshold"], KIND["consecutive"], KIND["state"]))]
    rate = every[kind == KIND["rate"]]
    win = every[kind == KIND["window"]]
    nd = every[kind == KIND["no_data"]]
    gt = c.p["hi_gt"][c.slot_leaf] if n else np.empty(0)
    lt = c.p["hi_lt"][c.slot_leaf] if n else np.empty(0)
    c.filter_ix = build_index(filt, metric, c.slot_device, n, gt=gt, lt=lt, mask=c.slot_state_mask)
    # Rates: levels per microsecond, and the longest gap compared.
    per = np.maximum(c.p["per_us"][c.slot_leaf], 1) if n else np.ones(0)
    gap = c.p["max_gap_us"][c.slot_leaf] if n else np.empty(0, np.int64)
    c.rate_ix = build_index(rate, metric, c.slot_device, n, gt=gt / per, lt=lt / per, span=gap)
    # Windows: sums and counts have no level a single reading must pass: always evaluated.
    agg = c.p["agg"][c.slot_leaf] if n else np.empty(0, np.int64)
    blind = np.isin(agg, (AGGS["sum"], AGGS["count"]))
    wgt = np.where(blind, -np.inf, gt)
    wlt = np.where(blind, np.inf, lt)
    span = c.p["window_us"][c.slot_leaf] if n else np.empty(0, np.int64)
    c.win_ix = build_index(win, metric, c.slot_device, n, gt=wgt, lt=wlt, span=span)
    c.nd_ix = build_index(nd, metric, c.slot_device, n, wait=c.slot_nodata_us)
