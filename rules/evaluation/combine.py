"""Conditions over other conditions: AND/OR of several conditions on one device, and
fleet conditions ("at least N devices of a district meet X, for a duration").

Both work on the leaves' transitions (rare), not on readings, except that a fleet's
duration is checked at the times of its devices' readings, so that live evaluation and
back-testing raise at the same reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["ComboState", "FleetArea", "LeafChange", "combo_step", "fleet_run"]

# (time, leaf position in its rule, device key, became active?, value)
LeafChange = tuple[int, int, int, bool, float | None]


@dataclass(slots=True)
class ComboState:
    """The latches of an AND/OR rule's conditions on one device."""

    latches: list[bool]
    active: bool = False


def combo_step(state: ComboState, changes: list[tuple[int, bool]], mode: str) -> bool | None:
    """Apply the (position, up) changes of one instant together; returns the rule's new
    state if it changed."""
    for position, up in changes:
        state.latches[position] = up
    now = all(state.latches) if mode == "all" else any(state.latches)
    if now != state.active:
        state.active = now
        return now
    return None


@dataclass(slots=True)
class FleetArea:
    """One area of a fleet rule: which devices meet the condition, since when the area
    has had enough of them, and whether its alarm is up."""

    members: set[int] = field(default_factory=set)
    since: int | None = None
    active: bool = False


def fleet_run(
    area: FleetArea,
    changes: list[LeafChange],
    obs_times: npt.NDArray[np.int64],
    min_devices: int,
    for_us: int,
) -> list[tuple[int, bool, frozenset[int]]]:
    """Apply one area's leaf changes (time-ordered) and check the duration at the area's
    reading times; returns the area's (time, raised?, devices meeting the condition)
    transitions."""
    out: list[tuple[int, bool, frozenset[int]]] = []

    def check_until(limit: int | None) -> None:
        # Raise at the first reading at or after since + for, before ``limit``.
        if area.active or area.since is None:
            return
        due = area.since + for_us
        pos = int(np.searchsorted(obs_times, due, side="left"))
        if pos < len(obs_times):
            at = int(obs_times[pos])
            if limit is None or at < limit:
                area.active = True
                out.append((at, True, frozenset(area.members)))

    i = 0
    while i < len(changes):
        t = changes[i][0]
        check_until(t)
        # Every change at the same time first, then the area is judged once.
        while i < len(changes) and changes[i][0] == t:
            _, _pos, device, up, _v = changes[i]
            if up:
                area.members.add(device)
            else:
                area.members.discard(device)
            i += 1
        enough = len(area.members) >= min_devices
        if enough and area.since is None:
            area.since = t
            if for_us == 0 and not area.active:
                area.active = True
                out.append((t, True, frozenset(area.members)))
        elif not enough:
            area.since = None
            if area.active:
                area.active = False
                out.append((t, False, frozenset(area.members)))
    check_until(None)
    return out
