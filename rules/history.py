"""Stored readings, read back fast for rebuilding state and back-testing: binary COPY of
(device, time, metric, value) rows, parsed with one numpy view (fixed-size rows), in
time-ordered chunks that feed the evaluator like committed batches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import numpy as np

from ingest.copy_binary import PG_EPOCH_US
from ingest.db import Conn
from ingest.feed import Committed

__all__ = ["read_history"]

# Binary COPY rows of (int4, timestamptz, int2, float8, timestamptz): field count, then
# length + value per field.
_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l0", ">i4"), ("device", ">i4"),
        ("l1", ">i4"), ("time", ">i8"),
        ("l2", ">i4"), ("metric", ">i2"),
        ("l3", ">i4"), ("value", ">f8"),
        ("l4", ">i4"), ("received", ">i8"),
    ]
)  # fmt: skip
_HEADER = 19  # signature (11) + flags (4) + header extension length (4)

_QUERY = """
SELECT r.device_key, r.time, u.m, u.v, r.received_at
FROM readings r CROSS JOIN LATERAL unnest(r.metric_ids, r.vals) AS u(m, v)
WHERE r.time >= $1 AND r.time < $2 AND r.metric_ids && $3::smallint[]
  AND u.m = ANY($3::smallint[]) AND ($4::int[] IS NULL OR r.device_key = ANY($4::int[]))
ORDER BY r.time, r.device_key
"""


async def read_history(
    conn: Conn,
    start: datetime,
    end: datetime,
    metric_ids: Sequence[int],
    device_keys: Sequence[int] | None,
    chunk: float = 86_400.0,
) -> AsyncIterator[Committed]:
    """Readings of these metrics (and devices; None: all) in [start, end), oldest first,
    as one :class:`Committed` per ``chunk`` seconds of device time."""
    if not metric_ids:
        return
    metrics = sorted(set(metric_ids))
    devices = sorted(set(device_keys)) if device_keys is not None else None
    step = chunk * 1e6
    t = start.timestamp() * 1e6
    stop = end.timestamp() * 1e6
    while t < stop:
        upper = min(stop, t + step)
        buf = bytearray()

        async def sink(data: bytes, out: bytearray = buf) -> None:
            out.extend(data)

        await conn.copy_from_query(
            _QUERY, _dt(t), _dt(upper), metrics, devices, output=sink, format="binary"
        )
        body = memoryview(buf)[_HEADER:-2]
        rows = np.frombuffer(body, dtype=_ROW)
        if len(rows):
            yield Committed(
                rows["device"].astype(np.int32),
                rows["time"].astype(np.int64) + PG_EPOCH_US,
                rows["metric"].astype(np.int16),
                rows["value"].astype(np.float64),
                rows["received"].astype(np.int64) + PG_EPOCH_US,
                None,
            )
        t = upper


def _dt(us: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(us / 1e6, tz=UTC)
