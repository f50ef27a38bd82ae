"""Checks of a rule against the device profiles: the metrics exist for the scope's
profile, each condition suits its metric's type, named states exist. Problems are
returned as readable lines with the place in the rule they concern."""

from __future__ import annotations

from device_profiles import Profile, ProfileRegistry

from .model import (
    Consecutive,
    Fleet,
    Leaf,
    Rate,
    Rule,
    StateIs,
    Threshold,
    Window,
)

__all__ = ["check_rule"]


def _where(rule: Rule, i: int) -> str:
    if isinstance(rule.condition, Fleet):
        return "condition.condition"
    if len(rule.leaves()) > 1:
        return f"condition.conditions.{i}"
    return "condition"


def _check_leaf(leaf: Leaf, where: str, candidates: list[Profile]) -> list[str]:
    metric = leaf.metric
    if metric is None:
        return []
    having = [p for p in candidates if metric in p.metrics]
    if not having:
        if len(candidates) == 1:
            known = ", ".join(candidates[0].metrics)
            return [
                f"{where}.metric: unknown metric {metric!r} for profile {candidates[0].name!r}"
                f" (its metrics: {known})"
            ]
        return [f"{where}.metric: no device profile has a metric {metric!r}"]
    problems: list[str] = []
    for p in having:
        spec = p.metrics[metric]
        numeric = isinstance(leaf, Threshold | Consecutive | Rate | Window)
        if numeric and spec.type != "number":
            states = ", ".join(spec.states or ())
            problems.append(
                f"{where}: {leaf.kind} needs a numeric metric, but {metric!r} of profile "
                f"{p.name!r} is a state ({states}); use kind: state"
            )
        if isinstance(leaf, StateIs):
            if spec.type != "state":
                problems.append(
                    f"{where}: kind state needs a categorical metric, but {metric!r} of profile "
                    f"{p.name!r} is a number ({spec.unit})"
                )
            else:
                unknown = [s for s in leaf.in_ if s not in (spec.states or ())]
                if unknown:
                    problems.append(
                        f"{where}.in: unknown state(s) {', '.join(map(repr, unknown))} for "
                        f"{metric!r} of profile {p.name!r} (states: {', '.join(spec.states or ())})"
                    )
    return problems


def check_rule(rule: Rule, profiles: ProfileRegistry) -> list[str]:
    """Problems of ``rule`` against the profiles (empty when it is fine)."""
    problems: list[str] = []
    if rule.scope.profile is not None:
        if rule.scope.profile not in profiles:
            return [
                f"scope.profile: unknown profile {rule.scope.profile!r} "
                f"(known: {', '.join(profiles.names())})"
            ]
        candidates = [profiles.get(rule.scope.profile)]
    else:
        candidates = list(profiles)
    for i, leaf in enumerate(rule.leaves()):
        where = _where(rule, i)
        problems += _check_leaf(leaf, where, candidates)
    return problems
