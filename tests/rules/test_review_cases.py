"""Edge cases of combined conditions, rebuilds and re-configuration: simultaneous
changes judged together, readings held during a rebuild still evaluated, devices leaving
a fleet area, state marked active from the alarms table."""

from __future__ import annotations

from rules.evaluation.devices import DeviceInfo
from rules.evaluation.evaluator import Evaluator, adopt
from tests.rules.helpers import MIN, T0, batch, brief, devices, evaluator, rule, run

AND = rule(
    """
name: both
scope: {profile: air_quality}
condition:
  kind: all
  conditions:
    - {kind: threshold, metric: no2, above: 50}
    - {kind: threshold, metric: pm25, above: 50}
""",
    1,
)
OR = rule(
    AND.rule.model_dump_json(by_alias=True).replace('"all"', '"any"').replace('"both"', '"either"'),
    2,
)
AQ = devices((1, "aq-1", "air_quality"))


def test_simultaneous_changes_are_judged_together() -> None:
    ev = evaluator([AND, OR], AQ)
    # pm25 high then no2 high: never both at once; "either" holds throughout.
    events = run(
        ev,
        [(1, T0, "pm25", 60.0), (1, T0, "no2", 10.0)],
        [(1, T0 + 5 * MIN, "pm25", 10.0), (1, T0 + 5 * MIN, "no2", 60.0)],
    )
    assert [(e.rule_id, e.kind, (e.t_us - T0) / MIN) for e in events] == [(2, "raised", 0.0)]


def test_fleet_changes_at_one_instant_do_not_flap() -> None:
    fleet = rule("""
name: two bins
scope: {profile: waste_container}
condition:
  kind: fleet
  area: scope
  min_devices: 2
  condition: {kind: threshold, metric: fillingLevel, above: 80}
""")
    bins = devices((1, "b-1", "waste_container"), (2, "b-2", "waste_container"),
                   (3, "b-3", "waste_container"))  # fmt: skip
    ev = evaluator([fleet], bins)
    first = run(ev, [(1, T0, "fillingLevel", 90.0), (2, T0, "fillingLevel", 90.0)])
    assert brief(first) == [("scope", "raised", 0.0)]
    # One bin empties as another fills, at the same instant: still two, nothing changes.
    swap = [(1, T0 + MIN, "fillingLevel", 10.0), (3, T0 + MIN, "fillingLevel", 95.0)]
    assert run(ev, swap) == []


def test_readings_held_during_a_rebuild_are_evaluated_for_every_rule() -> None:
    old = rule(
        """
name: bins full
scope: {profile: waste_container}
condition: {kind: threshold, metric: fillingLevel, above: 80}
""",
        1,
    )
    new = rule(
        """
name: bins half full
scope: {profile: waste_container}
condition: {kind: consecutive, metric: fillingLevel, above: 50, count: 2}
""",
        2,
    )
    bins = devices((1, "b-1", "waste_container"))
    live = evaluator([old], bins)
    assert run(live, [(1, T0, "fillingLevel", 60.0)]) == []
    # A rule is added: its state is rebuilt from history, which already holds the
    # reading committed during the rebuild (95 at T0+1m); the live evaluator holds it.
    held = batch([(1, T0 + MIN, "fillingLevel", 95.0)])
    rebuilt = evaluator([new], bins)
    history = [(1, T0, "fillingLevel", 60.0), (1, T0 + MIN, "fillingLevel", 95.0)]
    assert brief(run(rebuilt, history)) == [("b-1", "raised", 1.0)]
    live.configure([old.__class__(1, 1, old.rule), new], bins, T0)
    adopt(live, rebuilt)
    events = live.feed(held)
    # The old rule sees the held reading; the new one does not count it a second time.
    assert [(e.rule_id, e.kind) for e in events] == [(1, "raised")]
    assert live.active_subjects() == {(1, "b-1"): 1, (2, "b-1"): 1}


def test_a_device_leaving_the_scope_leaves_its_fleet_area() -> None:
    fleet = rule("""
name: two bins
scope: {profile: waste_container}
condition:
  kind: fleet
  area: scope
  min_devices: 2
  condition: {kind: threshold, metric: fillingLevel, above: 80}
""")
    both = devices((1, "b-1", "waste_container"), (2, "b-2", "waste_container"))
    ev = evaluator([fleet], both)
    assert len(run(ev, [(1, T0, "fillingLevel", 90.0), (2, T0, "fillingLevel", 90.0)])) == 1
    one_left = devices((1, "b-1", "waste_container"),
                       DeviceInfo(2, "b-2", "waste_container", enabled=False))  # fmt: skip
    ev.configure([fleet], one_left, T0 + MIN)
    assert brief(ev.tick(T0 + 2 * MIN)) == [("scope", "cleared", 1.0)]


def test_marked_active_forgets_a_clear_run_in_progress() -> None:
    slow = rule("""
name: slow clear
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50, clear: 40, clear_for: 30m}
""")
    ev: Evaluator = evaluator([slow], AQ)
    run(ev, [(1, T0, "pm25", 30.0)])  # idle; a clear run starts (irrelevant while idle)
    assert ev.mark_active([(1, "aq-1")]) == 1
    # Back from the table as active; a band reading, then low readings for 30 minutes.
    events = run(ev, [(1, T0 + 10 * MIN, "pm25", 45.0), (1, T0 + 20 * MIN, "pm25", 30.0),
                      (1, T0 + 50 * MIN, "pm25", 30.0)])  # fmt: skip
    assert brief(events) == [("aq-1", "cleared", 50.0)]
