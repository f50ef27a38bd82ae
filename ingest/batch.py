"""A batch of accepted readings, quarantined messages and the acknowledgements they wait on.

The gateway appends to the column lists directly (no object per reading); the writer
commits the whole batch in one transaction and only then runs the acknowledgements.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Batch", "QuarantineRow"]


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A refused message (or the refused part of one), kept with a readable reason."""

    received_us: int
    topic: str
    device_id: str | None
    reason_code: str
    reason: str
    payload: bytes


class Batch:
    """Column-wise readings plus what must happen once they are committed."""

    __slots__ = (
        "acks",
        "device_key",
        "messages",
        "metric_id",
        "on_commit",
        "opened",
        "publish_us",
        "quarantine",
        "received_us",
        "states",
        "time_us",
        "value",
    )

    def __init__(self) -> None:
        self.time_us: list[int] = []
        self.device_key: list[int] = []
        self.metric_id: list[int] = []
        self.value: list[float] = []
        self.received_us: list[int] = []
        self.states: dict[int, str] = {}
        self.quarantine: list[QuarantineRow] = []
        # Acknowledgement tokens of the messages this batch carries; ``on_commit`` gets
        # them once the batch is committed.
        self.acks: list[int] = []
        self.on_commit: Callable[[list[int]], None] | None = None
        # Device time of each message's first reading: publish-to-commit lag.
        self.publish_us: list[int] = []
        self.messages = 0
        self.opened = time.monotonic()

    def __len__(self) -> int:
        return len(self.time_us)

    def add_reading(
        self,
        time_us: int,
        device_key: int,
        metric_id: int,
        value: float,
        received_us: int,
        state: str | None = None,
    ) -> None:
        """Append one accepted reading."""
        if state is not None:
            self.states[len(self.time_us)] = state
        self.time_us.append(time_us)
        self.device_key.append(device_key)
        self.metric_id.append(metric_id)
        self.value.append(value)
        self.received_us.append(received_us)

    def is_empty(self) -> bool:
        """Nothing to write and nothing to acknowledge."""
        return not self.time_us and not self.quarantine and not self.acks
