"""Counters of a simulation run: messages sent, per format and per fault kind."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass(slots=True)
class Stats:
    """What a run has published so far (updated by one task; read by the progress display).

    ``sent`` counts every publish: telemetry, status messages and fault messages alike.
    ``by_format`` splits them by wire format (``status`` for online/offline messages);
    ``by_fault`` counts fault messages by kind, plus ``backfill`` for messages a device
    sends late after an outage.
    """

    sent: int = 0
    by_format: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    failed: int = 0  # publishes the MQTT client refused
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def record(self, fmt: str, fault: str | None = None, n: int = 1) -> None:
        """Count ``n`` published messages of one format (and fault kind)."""
        self.sent += n
        self.by_format[fmt] += n
        if fault is not None:
            self.by_fault[fault] += n

    def finish(self) -> None:
        """Freeze the elapsed time (the rate no longer drops once the run is over)."""
        if self.finished is None:
            self.finished = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (until it finished)."""
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Average messages per second."""
        return self.sent / self.elapsed

    def merge(self, other: Stats) -> None:
        """Add another run's counts (e.g. of a worker process)."""
        self.sent += other.sent
        self.failed += other.failed
        self.by_format.update(other.by_format)
        self.by_fault.update(other.by_fault)

    def summary(self) -> str:
        """One line per aspect, for the terminal and logs."""
        formats = ", ".join(f"{k} {v}" for k, v in sorted(self.by_format.items())) or "none"
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.by_fault.items())) or "none"
        lines = [
            f"sent {self.sent} messages in {self.elapsed:.1f} s ({self.rate:.0f} msg/s)",
            f"  by format: {formats}",
            f"  faults: {faults}",
        ]
        if self.failed:
            lines.append(f"  failed publishes: {self.failed}")
        return "\n".join(lines)
