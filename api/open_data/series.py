"""Bucketed series shared by device history and area aggregates: which aggregates, which
bucket, the limits (checked before any query), and the JSON points and CSV rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from device_profiles import MetricSpec
from ingest.queries.buckets import (
    MINUTE_US,
    BucketError,
    BucketPlan,
    auto_width,
    parse_width,
    plan_buckets,
    to_us,
)
from ingest.queries.history import Bucket

from ..context import ApiConfig
from .csv_stream import csv_chunks
from .params import bad, time_range

__all__ = [
    "AREA_AGGREGATES",
    "DEVICE_AGGREGATES",
    "Series",
    "choose_aggregates",
    "csv_points",
    "plan_series",
    "plan_version",
    "point",
]

DEVICE_AGGREGATES = ("count", "avg", "min", "max", "last")
AREA_AGGREGATES = ("count", "devices", "avg", "min", "max")
_NUMERIC_ONLY = ("avg", "min", "max")


def choose_aggregates(
    text: str | None, offered: Sequence[str], spec: MetricSpec | None, what: str
) -> tuple[str, ...]:
    """The aggregates asked for (comma-separated), in ``offered`` order. A categorical
    metric (``spec.states``) has only count and last."""
    categorical = spec is not None and spec.states is not None
    if text is None:
        names = [a for a in offered if not (categorical and a in _NUMERIC_ONLY)]
    else:
        names = [a.strip() for a in text.split(",") if a.strip()]
        unknown = [a for a in names if a not in offered]
        if unknown or not names:
            raise bad(f"agg must list some of {', '.join(offered)}; got {text!r}")
    if categorical:
        asked = [a for a in names if a in _NUMERIC_ONLY]
        if asked:
            assert spec is not None and spec.states is not None
            raise bad(
                f"{what} is categorical (states: {', '.join(spec.states)}): "
                f"{', '.join(asked)} are not defined for it; ask for count or last"
            )
    return tuple(a for a in offered if a in names)


@dataclass(frozen=True, slots=True)
class Series:
    """A checked bucketed query: the plan and the aggregates."""

    plan: BucketPlan
    aggregates: tuple[str, ...]


def plan_series(
    config: ApiConfig,
    start: datetime | None,
    end: datetime | None,
    bucket: str,
    rolled_until: datetime | None,
    now_us: int | None = None,
) -> BucketPlan:
    """Resolve range and bucket and refuse, before querying, a range longer than
    ``max_range_days`` or more buckets than ``max_history_points``."""
    if bucket == "auto":
        width = 0
    else:
        try:
            width = parse_width(bucket)
        except BucketError as exc:
            raise bad(str(exc)) from None
    start_us, end_us = time_range(
        start, end, max_days=config.max_range_days, now_us=now_us,
        align_end_us=width or MINUTE_US,
    )  # fmt: skip
    if not width:
        width = auto_width(start_us, end_us, min(1000, config.max_history_points))
    plan = plan_buckets(
        start_us, end_us, width, None if rolled_until is None else to_us(rolled_until)
    )
    if plan.buckets > config.max_history_points:
        raise bad(
            f"{plan.buckets} buckets of {plan.width} would be returned; one request may "
            f"return at most {config.max_history_points} (max_history_points): choose a "
            "wider bucket or a shorter range"
        )
    return plan


def plan_version(plan: BucketPlan) -> tuple[object, ...]:
    """What of a plan shapes the answer: the range, the width and whether a rollup table
    helped (where the rollups stop moves every maintenance pass; the numbers do not)."""
    return (plan.start_us, plan.end_us, plan.width_us, plan.rollup)


def point(
    b: Bucket, aggregates: Iterable[str], states: Sequence[str] | None = None
) -> dict[str, Any]:
    """One bucket as a JSON point with the requested aggregates."""
    p: dict[str, Any] = {"time": b.time}
    for a in aggregates:
        if a == "count":
            p["count"] = b.count
        elif a == "avg":
            p["avg"] = b.sum / b.count
        elif a == "min":
            p["min"] = b.min
        elif a == "max":
            p["max"] = b.max
        elif a == "devices":
            p["devices"] = b.devices
        else:
            p["last"] = state_name(b.last, states) if states is not None else b.last
    return p


def state_name(value: float, states: Sequence[str]) -> str | float:
    """The name of a state index (the index itself if the profile no longer has it)."""
    i = int(value)
    return states[i] if 0 <= i < len(states) and i == value else value


async def csv_points(
    buckets: Sequence[Bucket], aggregates: Sequence[str], states: Sequence[str] | None
) -> AsyncIterator[bytes]:
    """RFC 4180 CSV of the points: a header row, then one row per bucket."""

    async def rows() -> AsyncIterator[Sequence[object]]:
        for b in buckets:
            p = point(b, aggregates, states)
            yield [p["time"], *(p[a] for a in aggregates)]

    async for chunk in csv_chunks(["time", *aggregates], rows()):
        yield chunk
