"""The feed of committed readings: what the rules engine, live updates (SSE) and the
SensorThings MQTT extension see, in the order batches commit.

Whoever commits readings (the gateway's batch writer, the API's observation POSTs)
publishes them here once the transaction is committed; subscribers get one
:class:`Committed` per batch, as flat numpy columns built once and shared. Subscribers run
on the event loop right after the commit: they must be quick and must not block (a
subscriber with real work puts it on a bounded queue of its own). One failing subscriber
is logged with its name and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .batch import Batch

log = logging.getLogger(__name__)

__all__ = ["CommitFeed", "Committed", "Subscriber"]


@dataclass(frozen=True, slots=True)
class Committed:
    """The readings of one committed batch, one element per reading, in batch order.

    A categorical reading's ``value`` is the index of its state in the profile's state
    list (as stored in ``readings.vals``); ``state`` holds the name for those readings and
    None for numbers. Readings of a redelivered message may appear again: ``duplicates``
    says how many of the batch's readings were already stored (0 in the common case).
    """

    device_key: npt.NDArray[np.int32]
    time_us: npt.NDArray[np.int64]
    metric_id: npt.NDArray[np.int16]
    value: npt.NDArray[np.float64]
    received_us: npt.NDArray[np.int64]
    state: tuple[str | None, ...] | None
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.time_us)

    @classmethod
    def from_batch(cls, batch: Batch, duplicates: int = 0) -> Committed:
        """Flatten a batch's rows (grouped by width, plus rows with states)."""
        dev: list[npt.NDArray[np.int32]] = []
        times: list[npt.NDArray[np.int64]] = []
        mids: list[npt.NDArray[np.int16]] = []
        vals: list[npt.NDArray[np.float64]] = []
        recv: list[npt.NDArray[np.int64]] = []
        for g in batch.groups.values():
            if not len(g):
                continue
            n = g.n
            dev.append(np.repeat(np.asarray(g.device_key, dtype=np.int32), n))
            times.append(np.repeat(np.asarray(g.time_us, dtype=np.int64), n))
            mids.append(np.asarray(g.metric_ids, dtype=np.int16).reshape(-1))
            vals.append(np.asarray(g.values, dtype=np.float64).reshape(-1))
            recv.append(np.repeat(np.asarray(g.received_us, dtype=np.int64), n))
        numeric = sum(len(a) for a in times)
        states: list[str | None] | None = None
        if batch.state_rows:
            states = [None] * numeric
            for t, d, m, v, st, r in batch.state_rows:
                k = len(m)
                dev.append(np.full(k, d, dtype=np.int32))
                times.append(np.full(k, t, dtype=np.int64))
                mids.append(np.asarray(m, dtype=np.int16))
                vals.append(np.asarray(v, dtype=np.float64))
                recv.append(np.full(k, r, dtype=np.int64))
                states.extend(st)
        return cls(
            _cat(dev, np.int32),
            _cat(times, np.int64),
            _cat(mids, np.int16),
            _cat(vals, np.float64),
            _cat(recv, np.int64),
            None if states is None else tuple(states),
            duplicates,
        )

    @classmethod
    def from_readings(
        cls,
        readings: Iterable[tuple[int, int, int, float, str | None]],
        received_us: int | None,
    ) -> Committed:
        """From (device_key, time_us, metric_id, value, state) tuples (few readings: the
        API's observation POSTs, tests); ``received_us`` None: received at their time."""
        rows = list(readings)
        has_states = any(r[4] is not None for r in rows)
        times = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        return cls(
            np.fromiter((r[0] for r in rows), np.int32, len(rows)),
            times,
            np.fromiter((r[2] for r in rows), np.int16, len(rows)),
            np.fromiter((r[3] for r in rows), np.float64, len(rows)),
            times.copy() if received_us is None else np.full(len(rows), received_us, np.int64),
            tuple(r[4] for r in rows) if has_states else None,
        )


_G = TypeVar("_G", bound=np.generic)


def _cat(parts: list[npt.NDArray[_G]], dtype: type[_G]) -> npt.NDArray[_G]:
    if not parts:
        return np.empty(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


Subscriber = Callable[[Committed], None]


class CommitFeed:
    """Fan-out of committed readings to in-process subscribers."""

    def __init__(self) -> None:
        self._subscribers: dict[str, Subscriber] = {}

    def subscribe(self, name: str, subscriber: Subscriber) -> Callable[[], None]:
        """Add a named subscriber; returns the function that removes it."""
        if name in self._subscribers:
            raise ValueError(f"a feed subscriber named {name!r} exists already")
        self._subscribers[name] = subscriber
        return lambda: self.unsubscribe(name)

    def unsubscribe(self, name: str) -> None:
        """Remove a subscriber (no error if it is gone)."""
        self._subscribers.pop(name, None)

    @property
    def active(self) -> bool:
        """True when anybody listens (publishers skip flattening otherwise)."""
        return bool(self._subscribers)

    def publish_batch(self, batch: Batch, duplicates: int = 0) -> None:
        """Publish a committed batch (flattened once, only if anybody listens)."""
        if self._subscribers and batch.rows:
            self.publish(Committed.from_batch(batch, duplicates))

    def publish(self, committed: Committed) -> None:
        """Hand committed readings to every subscriber."""
        for name, subscriber in list(self._subscribers.items()):
            try:
                subscriber(committed)
            except Exception:
                log.exception("feed subscriber %s failed on %d readings", name, len(committed))
