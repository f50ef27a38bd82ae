"""The shared debouncer: vectorised over batches, it must equal a plain sequential state
machine, however the observations are split into batches."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.evaluation.kernel import SlotState, debounce

Obs = tuple[int, int, int]  # slot, time, level: 1 hi, -1 lo, 0 neither


def reference(
    obs: list[Obs], need: dict[int, tuple[int, int, int, int]]
) -> list[tuple[int, int, str]]:
    """One observation at a time, per slot, as the docs describe it."""
    state: dict[int, dict[str, object]] = {}
    out: list[tuple[int, int, str]] = []
    for slot, t, level in obs:
        s = state.setdefault(
            slot, {"active": False, "hi": None, "hin": 0, "hif": False, "lo": None, "lon": 0,
                   "lof": False},
        )  # fmt: skip
        hu, hn, lu, ln = need[slot]
        for name, flag, nu, nn in (("hi", level == 1, hu, hn), ("lo", level == -1, lu, ln)):
            if flag:
                if s[name] is None:
                    s[name], s[name + "n"], s[name + "f"] = t, 0, False
                s[name + "n"] = int(s[name + "n"]) + 1  # type: ignore[call-overload]
                start = int(s[name])  # type: ignore[call-overload]
                if not s[name + "f"] and t - start >= nu and int(s[name + "n"]) >= nn:  # type: ignore[call-overload]
                    s[name + "f"] = True
                    if name == "hi" and not s["active"]:
                        s["active"] = True
                        out.append((slot, t, "raised"))
                    elif name == "lo" and s["active"]:
                        s["active"] = False
                        out.append((slot, t, "cleared"))
            else:
                s[name], s[name + "n"], s[name + "f"] = None, 0, False
    return out


def run_batches(
    obs: list[Obs], need: dict[int, tuple[int, int, int, int]], cuts: list[int]
) -> list[tuple[int, int, str]]:
    state = SlotState(max(need) + 1)
    out: list[tuple[int, int, str]] = []
    bounds = [0, *sorted(set(cuts)), len(obs)]
    for a, b in itertools.pairwise(bounds):
        part = sorted(obs[a:b], key=lambda o: (o[0], o[1]))
        if not part:
            continue
        slot = np.array([o[0] for o in part], np.int64)
        t = np.array([o[1] for o in part], np.int64)
        level = np.array([o[2] for o in part])
        nd = np.array([need[s] for s in slot], np.int64).reshape(-1, 4)
        tr = debounce(
            slot, t, level == 1, level == -1, nd[:, 0], nd[:, 1], nd[:, 2], nd[:, 3], state
        )
        events = [(int(slot[i]), int(t[i]), "raised") for i in tr.raised]
        events += [(int(slot[i]), int(t[i]), "cleared") for i in tr.cleared]
        out.extend(sorted(events, key=lambda e: (e[1], e[0])))
    return sorted(out, key=lambda e: (e[1], e[0]))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Obs], dict[int, tuple[int, int, int, int]], list[int]]:
    slots = draw(st.integers(1, 4))
    need = {
        s: (draw(st.sampled_from([0, 0, 10, 25])), draw(st.integers(1, 3)),
            draw(st.sampled_from([0, 0, 10])), draw(st.integers(1, 2)))
        for s in range(slots)
    }  # fmt: skip
    n = draw(st.integers(1, 60))
    obs: list[Obs] = []
    t = 0
    for _ in range(n):
        t += draw(st.integers(1, 10))
        obs.append((draw(st.integers(0, slots - 1)), t, draw(st.sampled_from([1, 1, -1, 0]))))
    cuts = draw(st.lists(st.integers(0, n), max_size=5))
    return obs, need, cuts


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_batches_equal_the_sequential_state_machine(
    case: tuple[list[Obs], dict[int, tuple[int, int, int, int]], list[int]],
) -> None:
    obs, need, cuts = case
    expected = sorted(reference(obs, need), key=lambda e: (e[1], e[0]))
    assert run_batches(obs, need, cuts) == expected
    assert run_batches(obs, need, []) == expected


def test_duration_and_hysteresis_edges() -> None:
    # Raise needs 10 time units of hi; clear needs one lo. Readings at 0, 5, 10: raise at 10
    # (exactly the duration), not at 5. A neutral reading (0) keeps the alarm; lo clears.
    obs: list[Obs] = [(0, 0, 1), (0, 5, 1), (0, 10, 1), (0, 11, 0), (0, 12, 1), (0, 20, -1)]
    need = {0: (10, 1, 0, 1)}
    assert run_batches(obs, need, [2, 4]) == [(0, 10, "raised"), (0, 20, "cleared")]
    # A gap in the hi run (a neutral reading) restarts the duration.
    obs = [(0, 0, 1), (0, 5, 0), (0, 9, 1), (0, 14, 1), (0, 19, 1)]
    assert run_batches(obs, need, [1, 3]) == [(0, 19, "raised")]
