"""Latest values: the newest reading of each (device, metric) in a batch, one row per
device, computed in Python (a dict lookup per row) and merged into ``latest`` in SQL.

The common case, a device whose new message carries at least every metric its latest row
holds, replaces the row; anything else (a device reporting different metrics in turn,
or a late message) merges metric by metric, keeping whichever reading is newer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .batch import Batch, RowGroup

__all__ = ["LATEST_DDL", "MERGE_LATEST", "LatestRow", "newest_per_device"]

LATEST_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS citygate_latest "
    "(LIKE latest INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)

_FILL_STATES = "coalesce({0}.states, array_fill(NULL::text, ARRAY[cardinality({0}.metric_ids)]))"
_FILL_TIMES = "coalesce({0}.times, array_fill({0}.time, ARRAY[cardinality({0}.metric_ids)]))"
_REPLACE = (
    "excluded.times IS NULL AND excluded.time >= l.time AND l.metric_ids <@ excluded.metric_ids"
)

# Built from constant SQL fragments only; values travel by COPY.
# ORDER BY device_key: two batches committing at once lock latest rows in the same order,
# so they wait for each other instead of deadlocking.
MERGE_LATEST = f"""
INSERT INTO latest AS l SELECT * FROM pg_temp.citygate_latest ORDER BY device_key
ON CONFLICT (device_key) DO UPDATE SET
    time = greatest(l.time, excluded.time),
    received_at = greatest(l.received_at, excluded.received_at),
    (metric_ids, vals, states, times) = (
        SELECT CASE WHEN {_REPLACE} THEN excluded.metric_ids ELSE array_agg(m) END,
               CASE WHEN {_REPLACE} THEN excluded.vals ELSE array_agg(v) END,
               CASE WHEN {_REPLACE} THEN excluded.states
                    WHEN bool_or(st IS NOT NULL) THEN array_agg(st) END,
               CASE WHEN {_REPLACE} THEN excluded.times ELSE array_agg(t) END
        FROM (
            SELECT DISTINCT ON (m) m, v, st, t FROM (
                SELECT * FROM unnest(
                    l.metric_ids, l.vals, {_FILL_STATES.format("l")}, {_FILL_TIMES.format("l")})
                WHERE NOT ({_REPLACE})
                UNION ALL
                SELECT * FROM unnest(
                    excluded.metric_ids, excluded.vals, {_FILL_STATES.format("excluded")},
                    {_FILL_TIMES.format("excluded")})
                WHERE NOT ({_REPLACE})
            ) AS z(m, v, st, t)
            ORDER BY m, t DESC
        ) AS merged
    )
"""  # noqa: S608 - constant SQL fragments, no values


@dataclass(slots=True)
class LatestRow:
    """The newest readings of one device in a batch."""

    device_key: int
    time_us: int
    received_us: int
    metric_ids: tuple[int, ...]
    values: tuple[float, ...]
    states: tuple[str | None, ...] | None = None
    times_us: tuple[int, ...] | None = None  # None: every reading is at ``time_us``

    def merge(
        self,
        time_us: int,
        received_us: int,
        metric_ids: tuple[int, ...],
        values: tuple[float, ...],
        states: tuple[str | None, ...] | None,
    ) -> None:
        """Fold in another row of the same device, keeping the newer reading per metric."""
        if time_us >= self.time_us and set(self.metric_ids) <= set(metric_ids):
            self.time_us, self.metric_ids, self.values = time_us, metric_ids, values
            self.states, self.times_us = states, None
            self.received_us = max(self.received_us, received_us)
            return
        merged = {m: (t, v, s) for m, t, v, s in self._items()}
        for i, m in enumerate(metric_ids):
            old = merged.get(m)
            if old is None or time_us >= old[0]:
                merged[m] = (time_us, values[i], states[i] if states else None)
        self.metric_ids = tuple(merged)
        self.values = tuple(x[1] for x in merged.values())
        st = tuple(x[2] for x in merged.values())
        self.states = st if any(s is not None for s in st) else None
        times = tuple(x[0] for x in merged.values())
        self.time_us = max(times)
        self.times_us = None if all(t == self.time_us for t in times) else times
        self.received_us = max(self.received_us, received_us)

    def _items(self) -> Iterator[tuple[int, int, float, str | None]]:
        for i, m in enumerate(self.metric_ids):
            t = self.times_us[i] if self.times_us else self.time_us
            yield m, t, self.values[i], self.states[i] if self.states else None


def _fold(newest: dict[int, LatestRow], g: RowGroup) -> None:
    get = newest.get
    for t, d, mids, vals, r in zip(
        g.time_us, g.device_key, g.metric_ids, g.values, g.received_us, strict=True
    ):
        cur = get(d)
        if cur is None:
            newest[d] = LatestRow(d, t, r, mids, vals)
        elif cur.metric_ids == mids and t >= cur.time_us:
            cur.time_us, cur.values, cur.received_us = t, vals, max(r, cur.received_us)
            cur.times_us = None
        else:
            cur.merge(t, r, mids, vals, None)


def newest_per_device(batch: Batch) -> dict[int, LatestRow]:
    """One :class:`LatestRow` per device in the batch."""
    newest: dict[int, LatestRow] = {}
    for g in batch.groups.values():
        _fold(newest, g)
    for t, d, mids, vals, states, r in batch.state_rows:
        cur = newest.get(d)
        if cur is None:
            newest[d] = LatestRow(d, t, r, mids, vals, states)
        else:
            cur.merge(t, r, mids, vals, states)
    return newest
