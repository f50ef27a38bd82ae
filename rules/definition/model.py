"""The rule model: what operators write (YAML/JSON files, API bodies), validated with
readable errors. Checks against the profiles (metric exists, states exist, kinds fit)
are in :func:`check_rule`, since they need the profile registry.

A rule watches the readings of its **scope** (devices by profile, id, district, tag or
polygon); its **condition** raises an alarm for a device (or an area, for fleet
conditions) and clears it again; its **actions** run when the alarm is raised, cleared or
escalated.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .durations import Duration

__all__ = [
    "Action",
    "AllOf",
    "AnyOf",
    "CommandAction",
    "Condition",
    "Consecutive",
    "Escalation",
    "Fleet",
    "Leaf",
    "NoData",
    "Rate",
    "Rule",
    "Scope",
    "ServiceRequestAction",
    "StateIs",
    "Threshold",
    "WebhookAction",
    "Window",
]

RuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,127}$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
Severity = Literal["critical", "major", "minor", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor", "warning", "info")
Event = Literal["raised", "cleared", "escalated"]
Number = Annotated[float, Field(allow_inf_nan=False)]

MAX_WINDOW_US = 7 * 86_400 * 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Model):
    """Which devices a rule watches: every filter given must match (AND)."""

    profile: str | None = None
    devices: tuple[str, ...] | None = Field(default=None, min_length=1)
    districts: tuple[str, ...] | None = Field(default=None, min_length=1)
    tags: tuple[str, ...] | None = Field(default=None, min_length=1)
    # A polygon as [[lon, lat], ...] (closed or not), WGS 84.
    polygon: tuple[tuple[Number, Number], ...] | None = Field(default=None, min_length=3)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not any(
            v is not None for v in (self.profile, self.devices, self.districts, self.tags)
        ) and (self.polygon is None):
            raise ValueError(
                "scope is empty: give at least one of profile, devices, districts, tags, polygon"
            )
        if self.polygon is not None:
            for lon, lat in self.polygon:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValueError(f"polygon point ({lon}, {lat}) is not a lon/lat pair")
        return self


class _Compare(_Model):
    """above X, below X, or outside [lo, hi]; ``clear`` is the hysteresis level."""

    metric: MetricName
    above: Number | None = None
    below: Number | None = None
    outside: tuple[Number, Number] | None = None
    # Hysteresis: for 'above', the alarm clears once the value is at or below ``clear``
    # (default: the threshold itself); for 'below', at or above; for 'outside', a band.
    clear: Number | tuple[Number, Number] | None = None

    @model_validator(mode="after")
    def _one_comparison(self) -> Self:
        given = [k for k in ("above", "below", "outside") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'above', 'below' or 'outside'")
        if self.outside is not None:
            lo, hi = self.outside
            if not lo < hi:
                raise ValueError(f"outside: the band [{lo}, {hi}] must have lo < hi")
            if self.clear is not None:
                if not isinstance(self.clear, tuple):
                    raise ValueError("clear for 'outside' is a band [lo, hi] inside the band")
                clo, chi = self.clear
                if not lo <= clo < chi <= hi:
                    raise ValueError(f"clear band [{clo}, {chi}] must lie inside [{lo}, {hi}]")
        elif self.clear is not None:
            if isinstance(self.clear, tuple):
                raise ValueError("clear for 'above'/'below' is one number")
            if self.above is not None and self.clear > self.above:
                raise ValueError(f"clear ({self.clear}) must be at or below 'above' ({self.above})")
            if self.below is not None and self.clear < self.below:
                raise ValueError(f"clear ({self.clear}) must be at or above 'below' ({self.below})")
        return self


class Threshold(_Compare):
    """The value is beyond a threshold for a duration; clears after hysteresis."""

    kind: Literal["threshold"]
    for_: Duration = Field(default=0, alias="for")
    clear_for: Duration = 0


class Consecutive(_Compare):
    """N readings in a row beyond a threshold."""

    kind: Literal["consecutive"]
    count: Annotated[int, Field(ge=1, le=10_000)]
    clear_count: Annotated[int, Field(ge=1, le=10_000)] = 1


class Rate(_Compare):
    """Rate of change between consecutive readings, in units per ``per`` (default 1 min):
    ``above: 5, per: 1m`` holds when the value rises faster than 5 a minute."""

    kind: Literal["rate"]
    per: Duration = 60_000_000
    for_: Duration = Field(default=0, alias="for")
    clear_for: Duration = 0
    # Readings further apart than this are not compared (a gap is not a rate).
    max_gap: Duration = 3_600_000_000


class Window(_Compare):
    """An aggregate of the readings in a sliding window (by device time) is beyond a
    threshold; evaluated at every reading once the window holds ``min_count`` readings."""

    kind: Literal["window"]
    agg: Literal["avg", "min", "max", "sum", "count", "percentile"]
    window: Duration
    q: Annotated[float, Field(gt=0, lt=100)] | None = None
    min_count: Annotated[int, Field(ge=1)] = 1
    for_: Duration = Field(default=0, alias="for")
    clear_for: Duration = 0

    @model_validator(mode="after")
    def _window(self) -> Self:
        if not 0 < self.window <= MAX_WINDOW_US:
            raise ValueError("window must be longer than 0 and at most 7 days")
        if (self.agg == "percentile") != (self.q is not None):
            raise ValueError("'q' (the percentile, e.g. 95) goes with agg: percentile, only")
        return self


class StateIs(_Model):
    """A categorical metric is in one of the given states (optionally only in daylight or
    at night at the device's location) for a duration."""

    kind: Literal["state"]
    metric: MetricName
    in_: tuple[str, ...] = Field(alias="in", min_length=1)
    when: Literal["always", "daylight", "night"] = "always"
    for_: Duration = Field(default=0, alias="for")
    clear_for: Duration = 0


class NoData(_Model):
    """No reading (of ``metric``, or of any metric) for a duration; by default three
    times the profile's reporting interval. Clears with the next reading."""

    kind: Literal["no_data"]
    metric: MetricName | None = None
    for_: Duration | None = Field(default=None, alias="for")
    interval_factor: Annotated[float, Field(gt=1, le=100)] = 3.0


Leaf = Threshold | Consecutive | Rate | Window | StateIs | NoData
LeafField = Annotated[Leaf, Field(discriminator="kind")]


class AllOf(_Model):
    """Every condition holds on the same device at the same time."""

    kind: Literal["all"]
    conditions: tuple[LeafField, ...] = Field(min_length=2, max_length=8)


class AnyOf(_Model):
    """At least one condition holds on the device."""

    kind: Literal["any"]
    conditions: tuple[LeafField, ...] = Field(min_length=2, max_length=8)


class Fleet(_Model):
    """At least ``min_devices`` devices of an area meet ``condition`` at once, for a
    duration: one alarm per area (a district, or the rule's whole scope)."""

    kind: Literal["fleet"]
    condition: Threshold | StateIs | Window | Rate | Consecutive = Field(discriminator="kind")
    min_devices: Annotated[int, Field(ge=1, le=100_000)]
    area: Literal["district", "scope"] = "district"
    for_: Duration = Field(default=0, alias="for")


Condition = Annotated[
    Threshold | Consecutive | Rate | Window | StateIs | NoData | AllOf | AnyOf | Fleet,
    Field(discriminator="kind"),
]


class ServiceRequestAction(_Model):
    """Open an Open311 service request when the alarm is raised (one per device and
    service while open)."""

    type: Literal["service_request"]
    service_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: str = ""
    note_on_clear: bool = True


class WebhookAction(_Model):
    """POST the alarm to a URL (through the durable outbox)."""

    type: Literal["webhook"]
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000)]
    on: tuple[Event, ...] = ("raised", "cleared", "escalated")


class CommandAction(_Model):
    """Send a command to the device (e.g. dim a streetlight) when the alarm is raised or
    cleared. Not for fleet rules (there is no one device)."""

    type: Literal["command"]
    command: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    on: Literal["raised", "cleared"] = "raised"


Action = Annotated[
    ServiceRequestAction | WebhookAction | CommandAction, Field(discriminator="type")
]


class Escalation(_Model):
    """If the alarm is still active (and unacknowledged, unless ``even_if_acknowledged``)
    this long after it was raised: raise its severity and/or notify again."""

    after: Duration
    severity: Severity | None = None
    renotify: bool = True
    even_if_acknowledged: bool = False


class Rule(_Model):
    """One rule as an operator writes it."""

    name: RuleName
    description: str = ""
    enabled: bool = True
    severity: Severity = "major"
    scope: Scope
    condition: Condition
    auto_clear: bool = True
    actions: tuple[Action, ...] = ()
    escalation: Escalation | None = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        fleet = isinstance(self.condition, Fleet)
        for action in self.actions:
            if fleet and isinstance(action, CommandAction):
                raise ValueError("a fleet rule cannot send device commands (no single device)")
        esc = self.escalation
        if (
            esc
            and esc.severity
            and SEVERITIES.index(esc.severity) > SEVERITIES.index(self.severity)
        ):
            raise ValueError(
                f"escalation severity {esc.severity!r} is lower than the "
                f"rule's severity {self.severity!r}"
            )
        return self

    def leaves(self) -> tuple[Leaf, ...]:
        """The single-metric conditions this rule evaluates per device."""
        c = self.condition
        if isinstance(c, AllOf | AnyOf):
            return tuple(c.conditions)
        if isinstance(c, Fleet):
            return (c.condition,)
        return (c,)
