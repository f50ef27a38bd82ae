"""A batch of accepted readings, quarantined messages and the acknowledgements they wait on.

Readings are kept as rows of the ``readings`` table: one row per (device, time), with the
metric ids and values as tuples. Rows without states are grouped by how many readings
they hold, so the COPY encoder can turn each group into one fixed-size numpy array.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["Batch", "QuarantineRow", "RowGroup", "StateRow"]


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A refused message (or the refused part of one), kept with a readable reason."""

    received_us: int
    topic: str
    device_id: str | None
    reason_code: str
    reason: str
    payload: bytes


class RowGroup:
    """Rows that all carry ``n`` numeric readings and no states (column lists)."""

    __slots__ = ("device_key", "metric_ids", "n", "received_us", "time_us", "values")

    def __init__(self, n: int) -> None:
        self.n = n
        self.time_us: list[int] = []
        self.device_key: list[int] = []
        self.metric_ids: list[tuple[int, ...]] = []
        self.values: list[tuple[float, ...]] = []
        self.received_us: list[int] = []

    def __len__(self) -> int:
        return len(self.time_us)


# time_us, device_key, metric ids, values, states (None for numeric metrics), received_us
StateRow = tuple[int, int, tuple[int, ...], tuple[float, ...], tuple[str | None, ...], int]


class Batch:
    """Rows to store plus what must happen once they are committed."""

    __slots__ = (
        "acks",
        "groups",
        "messages",
        "on_commit",
        "opened",
        "publish_us",
        "quarantine",
        "readings",
        "rows",
        "state_rows",
    )

    def __init__(self) -> None:
        self.groups: dict[int, RowGroup] = {}
        self.state_rows: list[StateRow] = []
        self.rows = 0
        self.readings = 0
        self.quarantine: list[QuarantineRow] = []
        # Acknowledgement tokens of the messages this batch carries; ``on_commit`` gets
        # them once the batch is committed.
        self.acks: list[int] = []
        self.on_commit: Callable[[list[int]], None] | None = None
        # Device time of each message that stored readings: publish-to-commit lag.
        self.publish_us: list[int] = []
        self.messages = 0
        self.opened = time.monotonic()

    def __len__(self) -> int:
        """Readings in the batch."""
        return self.readings

    def add_row(
        self,
        time_us: int,
        device_key: int,
        metric_ids: tuple[int, ...],
        values: tuple[float, ...],
        received_us: int,
    ) -> None:
        """Append one row of numeric readings (the hot path)."""
        n = len(metric_ids)
        group = self.groups.get(n)
        if group is None:
            group = self.groups[n] = RowGroup(n)
        group.time_us.append(time_us)
        group.device_key.append(device_key)
        group.metric_ids.append(metric_ids)
        group.values.append(values)
        group.received_us.append(received_us)
        self.rows += 1
        self.readings += n

    def add_state_row(
        self,
        time_us: int,
        device_key: int,
        metric_ids: tuple[int, ...],
        values: tuple[float, ...],
        states: tuple[str | None, ...],
        received_us: int,
    ) -> None:
        """Append one row that holds at least one categorical reading."""
        self.state_rows.append((time_us, device_key, metric_ids, values, states, received_us))
        self.rows += 1
        self.readings += len(metric_ids)

    def iter_readings(self) -> Iterator[tuple[int, int, int, float, str | None]]:
        """Every reading as (time_us, device_key, metric_id, value, state)."""
        for g in self.groups.values():
            for t, d, mids, vals in zip(
                g.time_us, g.device_key, g.metric_ids, g.values, strict=True
            ):
                for m, v in zip(mids, vals, strict=True):
                    yield t, d, m, v, None
        for t, d, mids, vals, states, _ in self.state_rows:
            yield from ((t, d, m, v, st) for m, v, st in zip(mids, vals, states, strict=True))

    def oldest_us(self) -> int | None:
        """The earliest reading time in the batch."""
        times = [min(g.time_us) for g in self.groups.values() if g.time_us]
        times += [r[0] for r in self.state_rows]
        return min(times) if times else None

    def is_empty(self) -> bool:
        """Nothing to write and nothing to acknowledge."""
        return not self.rows and not self.quarantine and not self.acks
