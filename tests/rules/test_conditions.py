"""Each condition kind raises and clears at the right reading (no database: the
evaluator alone, fed committed batches)."""

from __future__ import annotations

from collections.abc import Sequence

from rules.evaluation.devices import DeviceInfo
from tests.rules.helpers import (
    MIN,
    T0,
    Reading,
    batch,
    brief,
    devices,
    evaluator,
    rule,
    run,
    state_index,
)

AQ = devices((1, "aq-1", "air_quality"), (2, "aq-2", "air_quality"))


def series(device: int, metric: str, values: Sequence[float], step_min: float = 5) -> list[Reading]:
    return [(device, T0 + round(i * step_min * MIN), metric, v) for i, v in enumerate(values)]


def test_threshold_with_duration_and_hysteresis() -> None:
    ev = evaluator(
        [
            rule("""
name: pm25 high
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50, for: 10m, clear: 40}
""")
        ],
        AQ,
    )
    # 5-minute readings: above 50 from minute 5; held 10 min at minute 15 -> raised there.
    # 45 is between clear (40) and threshold (50): still active. 39 clears at minute 35.
    values = [30, 55, 60, 70, 45, 48, 60, 39, 60]
    events = run(ev, series(1, "pm25", values)[:3], series(1, "pm25", values)[3:])
    assert brief(events) == [("aq-1", "raised", 15.0), ("aq-1", "cleared", 35.0)]
    assert events[0].value == 70 and events[0].metric == "pm25"


def test_threshold_duration_edge_and_interruption() -> None:
    ev = evaluator(
        [
            rule("""
name: t
scope: {devices: [aq-1]}
condition: {kind: threshold, metric: no2, above: 100, for: 10m}
""")
        ],
        AQ,
    )
    # Above at 0 and 5, dips at 10, above again 15, 20, 25: raised at 25 (10 min after 15).
    assert brief(run(ev, series(1, "no2", [120, 130, 90, 150, 150, 150]))) == [
        ("aq-1", "raised", 25.0)
    ]
    # aq-2 is out of scope.
    assert run(ev, series(2, "no2", [500, 500, 500, 500])) == []


def test_below_and_outside_band() -> None:
    ev = evaluator(
        [
            rule(
                """
name: cold
scope: {profile: air_quality}
condition: {kind: threshold, metric: temperature, below: 0, clear: 2}
""",
                1,
            ),
            rule(
                """
name: humidity band
scope: {profile: air_quality}
condition: {kind: threshold, metric: relativeHumidity, outside: [20, 80], clear: [25, 75]}
""",
                2,
            ),
        ],
        AQ,
    )
    events = run(
        ev,
        series(1, "temperature", [5, -1, 1, 3]),
        series(1, "relativeHumidity", [50, 85, 78, 70, 10]),
    )
    assert sorted(((e.t_us - T0) / MIN, e.rule_id, e.kind) for e in events) == [
        (5.0, 1, "raised"), (5.0, 2, "raised"), (15.0, 1, "cleared"), (15.0, 2, "cleared"),
        (20.0, 2, "raised"),
    ]  # fmt: skip


def test_consecutive_readings() -> None:
    ev = evaluator(
        [
            rule("""
name: noisy
scope: {profile: air_quality}
condition: {kind: consecutive, metric: pm10, above: 100, count: 3, clear_count: 2}
""")
        ],
        AQ,
    )
    values = [150, 150, 50, 150, 150, 150, 50, 150, 50, 50]
    assert brief(run(ev, series(1, "pm10", values))) == [
        ("aq-1", "raised", 25.0), ("aq-1", "cleared", 45.0),
    ]  # fmt: skip


def test_rate_of_change() -> None:
    ev = evaluator(
        [
            rule("""
name: rising river
scope: {profile: water_level}
condition: {kind: rate, metric: height, above: 0.2, per: 1h, clear: 0.05}
""")
        ],
        devices((7, "wl-1", "water_level")),
    )
    # Readings every 15 min: +0.02 m, then +0.1 m per 15 min (= 0.4 m/h), then flat.
    values = [1.0, 1.02, 1.12, 1.22, 1.24, 1.24]
    assert brief(run(ev, series(7, "height", values, 15))) == [
        ("wl-1", "raised", 30.0), ("wl-1", "cleared", 75.0),
    ]  # fmt: skip


def test_window_average_spans_batches() -> None:
    ev = evaluator(
        [
            rule("""
name: loud evening
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: avg, window: 15m, above: 70, min_count: 3}
""")
        ],
        devices((3, "n-1", "noise")),
    )
    values = [60, 80, 75, 72, 60, 55]
    s = series(3, "LAeq", values)
    # Window averages (15 min, both ends included): 60, 70, 71.67 (raised at 10), 71.75,
    # 71.75, 65.5 (cleared at 25).
    events = run(ev, s[:2], s[2:3], s[3:])
    assert brief(events) == [("n-1", "raised", 10.0), ("n-1", "cleared", 25.0)]


def test_window_percentile_and_max() -> None:
    ev = evaluator(
        [
            rule(
                """
name: p90
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: percentile, q: 90, window: 1h, above: 85}
""",
                1,
            ),
            rule(
                """
name: max
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: max, window: 10m, above: 95}
""",
                2,
            ),
        ],
        devices((3, "n-1", "noise")),
    )
    values = [60, 60, 96, 60, 60, 60]
    events = run(ev, series(3, "LAeq", values))
    # p90 (linear interpolation) over the hour: 85.2 at 15 min, 81.6 at 20 min.
    assert sorted(((e.t_us - T0) / MIN, e.rule_id, e.kind) for e in events) == [
        (10.0, 1, "raised"), (10.0, 2, "raised"), (20.0, 1, "cleared"), (25.0, 2, "cleared"),
    ]  # fmt: skip


def test_state_condition_and_daylight() -> None:
    lights = devices(
        DeviceInfo(5, "sl-1", "streetlight", "Centre", (), 48.85, 2.35),
        DeviceInfo(6, "sl-2", "streetlight", "Centre"),  # no location: daylight unknown
    )
    ev = evaluator(
        [
            rule("""
name: light on in daylight
scope: {profile: streetlight}
condition: {kind: state, metric: powerState, in: ["on"], when: daylight, for: 30m}
""")
        ],
        lights,
    )
    on = state_index("streetlight", "powerState", "on")
    off = state_index("streetlight", "powerState", "off")
    noon = 1_781_006_400_000_000  # 2026-06-09 12:00 UTC: daylight in Paris
    midnight = noon + 12 * 3600 * 1_000_000
    readings = [(5, noon + i * 15 * MIN, "powerState", on) for i in range(3)]
    readings += [(5, noon + 45 * MIN, "powerState", off)]
    readings += [(5, midnight + i * 15 * MIN, "powerState", on) for i in range(3)]
    readings += [(6, noon + i * 15 * MIN, "powerState", on) for i in range(4)]
    events = run(ev, readings)
    assert [(e.subject, e.kind, (e.t_us - noon) / MIN) for e in events] == [
        ("sl-1", "raised", 30.0), ("sl-1", "cleared", 45.0),
    ]  # fmt: skip


def test_waste_container_burning() -> None:
    ev = evaluator(
        [
            rule("""
name: fire
severity: critical
scope: {profile: waste_container}
condition: {kind: state, metric: status, in: [burning]}
""")
        ],
        devices((9, "wc-1", "waste_container")),
    )
    burning = state_index("waste_container", "status", "burning")
    ok = state_index("waste_container", "status", "ok")
    s = [(9, T0, "status", ok), (9, T0 + MIN, "status", burning), (9, T0 + 2 * MIN, "status", ok)]
    assert brief(run(ev, s)) == [("wc-1", "raised", 1.0), ("wc-1", "cleared", 2.0)]


def test_no_data_by_timer_and_by_gap() -> None:
    ev = evaluator(
        [
            rule("""
name: silent
scope: {profile: air_quality}
condition: {kind: no_data, for: 30m}
""")
        ],
        AQ,
    )
    # aq-1 reports at 0 and 10; by 45 min it has been silent 35 min: raised at 40.
    assert run(ev, [(1, T0, "pm25", 1), (2, T0, "pm25", 1), (1, T0 + 10 * MIN, "no2", 1)]) == []
    events = ev.tick(T0 + 45 * MIN)
    assert brief(events) == [("aq-2", "raised", 30.0), ("aq-1", "raised", 40.0)]
    assert ev.tick(T0 + 50 * MIN) == []  # not twice
    # The next reading clears; a gap seen only in the data (the engine was not ticking)
    # raises and clears at once, at the right times.
    events = run(ev, [(1, T0 + 50 * MIN, "pm25", 1), (1, T0 + 95 * MIN, "pm25", 1)])
    assert brief(events) == [
        ("aq-1", "cleared", 50.0), ("aq-1", "raised", 80.0), ("aq-1", "cleared", 95.0),
    ]  # fmt: skip


def test_no_data_default_from_the_profile_interval() -> None:
    ev = evaluator(
        [
            rule("""
name: silent metric
scope: {profile: air_quality}
condition: {kind: no_data, metric: o3}
""")
        ],
        devices((1, "aq-1", "air_quality")),
    )
    run(ev, [(1, T0, "o3", 1)])
    # air_quality reports every 300 s; default factor 3 -> 15 minutes.
    assert ev.tick(T0 + 14 * MIN) == []
    assert brief(ev.tick(T0 + 16 * MIN)) == [("aq-1", "raised", 15.0)]


def test_all_and_any_on_one_device() -> None:
    ev = evaluator(
        [
            rule(
                """
name: smog
scope: {profile: air_quality}
condition:
  kind: all
  conditions:
    - {kind: threshold, metric: pm25, above: 50}
    - {kind: threshold, metric: no2, above: 200}
""",
                1,
            ),
            rule(
                """
name: either
scope: {profile: air_quality}
condition:
  kind: any
  conditions:
    - {kind: threshold, metric: pm25, above: 50}
    - {kind: threshold, metric: no2, above: 200}
""",
                2,
            ),
        ],
        AQ,
    )
    r = [
        (1, T0, "pm25", 60), (1, T0, "no2", 100),
        (1, T0 + 5 * MIN, "pm25", 60), (1, T0 + 5 * MIN, "no2", 250),
        (1, T0 + 10 * MIN, "pm25", 30), (1, T0 + 10 * MIN, "no2", 250),
        (1, T0 + 15 * MIN, "pm25", 30), (1, T0 + 15 * MIN, "no2", 100),
    ]  # fmt: skip
    events = run(ev, r[:3], r[3:])
    assert [(e.rule_id, e.kind, (e.t_us - T0) / MIN) for e in events] == [
        (2, "raised", 0.0), (1, "raised", 5.0), (1, "cleared", 10.0), (2, "cleared", 15.0),
    ]  # fmt: skip


def test_fleet_condition_per_district() -> None:
    fleet = devices(
        *[DeviceInfo(10 + i, f"aq-n{i}", "air_quality", "North") for i in range(4)],
        *[DeviceInfo(20 + i, f"aq-s{i}", "air_quality", "South") for i in range(4)],
    )
    ev = evaluator(
        [
            rule("""
name: district smog
scope: {profile: air_quality}
condition:
  kind: fleet
  min_devices: 3
  for: 15m
  condition: {kind: threshold, metric: pm25, above: 50}
""")
        ],
        fleet,
    )
    readings = []
    for step in range(8):
        t = T0 + step * 5 * MIN
        for i in range(4):
            high = i < 3 and 1 <= step <= 5  # three North devices high from 5 to 25 min
            readings.append((10 + i, t, "pm25", 80.0 if high else 10.0))
            readings.append((20 + i, t, "pm25", 80.0 if i < 2 else 10.0))  # only two South
    events = run(ev, readings[:20], readings[20:50], readings[50:])
    assert brief(events) == [
        ("district:North", "raised", 20.0),
        ("district:North", "cleared", 30.0),
    ]
    assert events[0].details["devices"] == ["aq-n0", "aq-n1", "aq-n2"]


def test_redelivered_and_late_readings_raise_nothing_twice() -> None:
    ev = evaluator(
        [
            rule("""
name: pm25 high
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50}
""")
        ],
        AQ,
    )
    s = series(1, "pm25", [60, 20, 60])
    assert len(run(ev, s)) == 3
    # The same batch again (redelivery), and an old reading arriving late: nothing.
    assert run(ev, s, [(1, T0 + 1 * MIN, "pm25", 99)]) == []
    assert ev.skipped == 4
    # Same reading twice in one batch: evaluated once.
    ev2 = evaluator([r.stored for r in ev.compiled.rules], AQ)
    assert len(ev2.feed(batch([(1, T0, "pm25", 60), (1, T0, "pm25", 60)]))) == 1


def test_reconfigure_keeps_state_of_unchanged_rules() -> None:
    r1 = rule("""
name: pm25 high
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50, for: 10m}
""")
    ev = evaluator([r1], AQ)
    run(ev, series(1, "pm25", [60, 60]))  # 5 of 10 minutes held
    # A new device appears: the rule is recompiled, aq-1's run goes on.
    ev.configure(
        [r1],
        devices((1, "aq-1", "air_quality"), (2, "aq-2", "air_quality"), (3, "aq-3", "air_quality")),
        T0,
    )
    assert brief(run(ev, [(1, T0 + 10 * MIN, "pm25", 60)])) == [("aq-1", "raised", 10.0)]
    # A new version of the rule starts fresh.
    r2 = rule(r1.rule.model_dump_json(by_alias=True), version=2)
    ev.configure([r2], AQ, T0)
    assert ev.active_subjects() == {}
