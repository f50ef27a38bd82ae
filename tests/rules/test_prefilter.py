"""Skipping readings that cannot change anything must change nothing: the evaluator with
its prefilter equals the evaluator without it, for any readings and batch splits."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.evaluation.devices import DeviceInfo
from tests.rules.helpers import MIN, T0, batch, devices, evaluator, rule, state_index

RULES = [
    rule(
        """
name: hot
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50, clear: 40, for: 10m}
""",
        1,
    ),
    rule(
        """
name: three in a row
scope: {profile: air_quality}
condition: {kind: consecutive, metric: pm25, below: 20, count: 3, clear_count: 2}
""",
        2,
    ),
    rule(
        """
name: band
scope: {profile: air_quality}
condition: {kind: threshold, metric: no2, outside: [30, 70], clear: [35, 65], clear_for: 5m}
""",
        3,
    ),
    rule(
        """
name: both
scope: {profile: air_quality}
condition:
  kind: all
  conditions:
    - {kind: threshold, metric: pm25, above: 45}
    - {kind: threshold, metric: no2, above: 60, for: 5m}
""",
        4,
    ),
    rule(
        """
name: fleet
scope: {profile: air_quality}
condition:
  kind: fleet
  min_devices: 2
  for: 5m
  condition: {kind: threshold, metric: pm25, above: 55}
""",
        5,
    ),
    rule(
        """
name: silent
scope: {profile: air_quality}
condition: {kind: no_data, metric: no2, for: 12m}
""",
        6,
    ),
    rule(
        """
name: bins
scope: {profile: waste_container}
condition: {kind: state, metric: status, in: [burning, vandalized], for: 5m}
""",
        7,
    ),
]
TABLE = devices(
    *[DeviceInfo(i, f"aq-{i}", "air_quality", "A" if i < 3 else "B") for i in range(1, 5)],
    (9, "wc-1", "waste_container"),
)
STATES = [state_index("waste_container", "status", s) for s in ("ok", "burning", "vandalized")]

Reading = tuple[int, int, str, float]


@st.composite
def readings(draw: st.DrawFn) -> tuple[list[Reading], list[int]]:
    out: list[Reading] = []
    n = draw(st.integers(1, 80))
    t = T0
    for _ in range(n):
        t += draw(st.sampled_from([0, MIN, 2 * MIN, 5 * MIN, 13 * MIN]))
        d = draw(st.sampled_from([1, 2, 3, 4, 9]))
        if d == 9:
            out.append((9, t, "status", draw(st.sampled_from(STATES))))
        else:
            metric = draw(st.sampled_from(["pm25", "no2"]))
            out.append((d, t, metric, float(draw(st.integers(10, 80)))))
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return out, cuts


def _events(rows: list[Reading], cuts: list[int], prefilter: bool) -> list[tuple[object, ...]]:
    ev = evaluator(RULES, TABLE)
    ev.prefilter = prefilter
    out = []
    bounds = [0, *sorted(set(cuts)), len(rows)]
    for a, b in itertools.pairwise(bounds):
        if a < b:
            out += ev.feed(batch(rows[a:b]))
    out += ev.tick(rows[-1][1] + 60 * MIN)
    return sorted((e.t_us, e.rule_id, e.subject, e.kind) for e in out)


@settings(max_examples=150, deadline=None)
@given(readings())
def test_prefilter_changes_nothing(case: tuple[list[Reading], list[int]]) -> None:
    rows, cuts = case
    expected = _events(rows, [], prefilter=False)
    assert _events(rows, cuts, prefilter=True) == expected
    assert _events(rows, cuts, prefilter=False) == expected


SEQUENTIAL = [
    rule(
        """
name: avg
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: avg, window: 20m, above: 60, clear: 55, min_count: 2}
""",
        11,
    ),
    rule(
        """
name: max
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: max, window: 10m, above: 75, for: 5m}
""",
        12,
    ),
    rule(
        """
name: p90
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: percentile, q: 90, window: 30m, above: 70}
""",
        13,
    ),
    rule(
        """
name: count
scope: {profile: noise}
condition: {kind: window, metric: LAmax, agg: count, window: 15m, below: 2}
""",
        14,
    ),
    rule(
        """
name: rising
scope: {profile: noise}
condition: {kind: rate, metric: LAeq, above: 2, per: 1m, clear: 0.5}
""",
        15,
    ),
]
NOISE = devices((1, "n-1", "noise"), (2, "n-2", "noise"), (3, "n-3", "noise"))


@st.composite
def noise_readings(draw: st.DrawFn) -> tuple[list[Reading], list[int]]:
    out: list[Reading] = []
    n = draw(st.integers(1, 60))
    t = T0
    for _ in range(n):
        t += draw(st.sampled_from([0, MIN, 2 * MIN, 4 * MIN, 11 * MIN]))
        metric = draw(st.sampled_from(["LAeq", "LAeq", "LAmax"]))
        out.append((draw(st.sampled_from([1, 2, 3])), t, metric, float(draw(st.integers(40, 90)))))
    return out, draw(st.lists(st.integers(0, n), max_size=6))


def _seq_events(
    rows: list[Reading], cuts: list[int], prefilter: bool = True
) -> list[tuple[object, ...]]:
    ev = evaluator(SEQUENTIAL, NOISE)
    ev.prefilter = prefilter
    out = []
    bounds = [0, *sorted(set(cuts)), len(rows)]
    for a, b in itertools.pairwise(bounds):
        if a < b:
            out += ev.feed(batch(rows[a:b]))
    return sorted((e.t_us, e.rule_id, e.subject, e.kind) for e in out)


@settings(max_examples=150, deadline=None)
@given(noise_readings())
def test_windows_and_rates_do_not_depend_on_batch_boundaries_or_the_prefilter(
    case: tuple[list[Reading], list[int]],
) -> None:
    rows, cuts = case
    expected = _seq_events(rows, [], prefilter=False)
    assert _seq_events(rows, cuts) == expected
    assert _seq_events(rows, cuts, prefilter=False) == expected
