"""Prometheus metrics of the batch writer, registered on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["WriterMetrics"]


class WriterMetrics:
    """Counters and histograms the writer updates once per batch (never per reading)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.readings_stored = Counter(
            "citygate_readings_stored_total",
            "Readings committed to the database",
            registry=registry,
        )
        self.duplicates = Counter(
            "citygate_readings_duplicate_total",
            "Readings already stored (redelivered messages), not stored twice",
            registry=registry,
        )
        self.quarantined = Counter(
            "citygate_quarantine_rows_total", "Rows written to quarantine", registry=registry
        )
        self.batch_size = Histogram(
            "citygate_batch_readings",
            "Readings per committed batch",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000),
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "citygate_batch_commit_seconds",
            "Time to write and commit one batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.max_commit_seconds = 0.0  # slowest batch so far (benchmarks report it)
        self.write_retries = Counter(
            "citygate_batch_write_retries_total",
            "Batch writes retried after a database error",
            registry=registry,
        )
