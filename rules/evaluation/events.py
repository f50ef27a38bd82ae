"""What evaluation produces: a rule's condition started or stopped holding for a subject
(a device, or an area for fleet rules) at a device time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AlarmEvent", "EventKind"]

EventKind = Literal["raised", "cleared"]


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """A transition of one rule for one subject."""

    rule_id: int
    rule_version: int
    subject: str  # device id, or "district:<name>" / "scope" for fleet rules
    kind: EventKind
    t_us: int  # device time of the reading (or virtual time for no-data) that caused it
    device_key: int | None = None
    metric: str | None = None
    value: float | None = None
    details: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, str]:
        """(rule, subject): one active alarm per key."""
        return self.rule_id, self.subject
