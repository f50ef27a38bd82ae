"""Time buckets for history queries: parse a bucket width, pick one automatically, count
the buckets of a range before anything is queried, and split a range into the part the
rollups may answer and the parts only raw readings can.

Everything is integer microseconds since the Unix epoch, so no datetime arithmetic can
overflow near the ends of the calendar. Buckets are aligned like TimescaleDB's
``time_bucket`` (origin 2000-01-03, a Monday): buckets that divide a day start at
midnight UTC, week buckets on Mondays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "AUTO_MAX_POINTS",
    "ORIGIN",
    "BucketError",
    "BucketPlan",
    "auto_width",
    "bucket_count",
    "ceil_to",
    "floor_to",
    "format_width",
    "from_us",
    "parse_width",
    "plan_buckets",
    "to_us",
]

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
ORIGIN_US = 946_857_600 * US
# An automatic bucket gives at most this many points (a chart's width, roughly).
AUTO_MAX_POINTS = 1000
_AUTO_LADDER = tuple(
    n * unit
    for n, unit in (
        (1, MINUTE_US), (2, MINUTE_US), (5, MINUTE_US), (10, MINUTE_US), (15, MINUTE_US),
        (30, MINUTE_US), (1, HOUR_US), (2, HOUR_US), (3, HOUR_US), (6, HOUR_US),
        (12, HOUR_US), (1, DAY_US), (7, DAY_US), (28, DAY_US),
    )
)  # fmt: skip
_UNITS = {"s": US, "m": MINUTE_US, "h": HOUR_US, "d": DAY_US}
_WIDTH = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
MAX_WIDTH_US = 366 * DAY_US


class BucketError(ValueError):
    """A bucket or a range is not acceptable; the message says why, for the caller."""


def parse_width(text: str) -> int:
    """``"15m"`` -> microseconds. Units: s, m, h, d; from 1 s to 366 days."""
    m = _WIDTH.match(text.strip())
    if m is None:
        raise BucketError(f"bucket {text!r} is not a width like 30s, 1m, 15m, 1h or 1d (or 'auto')")
    width = int(m.group(1)) * _UNITS[m.group(2)]
    if width > MAX_WIDTH_US:
        raise BucketError(f"bucket {text!r} is longer than the longest bucket, 366d")
    return width


def format_width(width_us: int) -> str:
    """Microseconds -> the shortest exact text (``3600000000`` -> ``"1h"``)."""
    for unit in ("d", "h", "m", "s"):
        if width_us % _UNITS[unit] == 0:
            return f"{width_us // _UNITS[unit]}{unit}"
    raise BucketError("bucket widths are whole seconds")


def to_us(t: datetime) -> int:
    """An aware (or UTC-naive) datetime -> epoch microseconds, without float rounding."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(us: int) -> datetime:
    """Epoch microseconds -> an aware UTC datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def floor_to(us: int, width_us: int) -> int:
    """Start of the bucket holding ``us``."""
    return us - (us - ORIGIN_US) % width_us


def ceil_to(us: int, width_us: int) -> int:
    """The first bucket start at or after ``us``."""
    f = floor_to(us, width_us)
    return f if f == us else f + width_us


def bucket_count(start_us: int, end_us: int, width_us: int) -> int:
    """How many buckets the range [start, end) touches."""
    if end_us <= start_us:
        return 0
    return (floor_to(end_us - 1, width_us) - floor_to(start_us, width_us)) // width_us + 1


def auto_width(start_us: int, end_us: int, max_points: int = AUTO_MAX_POINTS) -> int:
    """The smallest width of the ladder (1m ... 28d) giving at most ``max_points``."""
    for width in _AUTO_LADDER:
        if bucket_count(start_us, end_us, width) <= max_points:
            return width
    return _AUTO_LADDER[-1]


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """One bucketed query: its buckets and which part the rollups answer.

    The rollups answer ``[roll_lo_us, roll_hi_us)`` (empty when equal); raw readings
    answer ``[start_us, roll_lo_us)`` and ``[roll_hi_us, end_us)``. ``rollup`` is the
    table's grain (``"1m"``/``"1h"``) or None.
    """

    width_us: int
    start_us: int
    end_us: int
    buckets: int
    rollup: str | None
    roll_lo_us: int
    roll_hi_us: int

    @property
    def final(self) -> bool:
        """The rollups answer the whole range: the answer is a function of final rollup
        rows only (it changes with the rollup generation, not with new readings)."""
        return (
            self.rollup is not None
            and self.roll_lo_us == self.start_us
            and self.roll_hi_us == self.end_us
        )

    @property
    def width(self) -> str:
        """The width as text (``"15m"``)."""
        return format_width(self.width_us)


def plan_buckets(
    start_us: int, end_us: int, width_us: int, rolled_until_us: int | None
) -> BucketPlan:
    """Split [start, end) for buckets of ``width_us``, given that the rollups are complete
    and final for every reading before ``rolled_until_us`` (None: no rollups yet).

    The rollups can answer a bucket only when their own buckets tile it: widths that are
    whole hours use the 1-hour rollup, whole minutes the 1-minute one; the edges of the
    range that cut through a rollup bucket, and everything after ``rolled_until_us``,
    come from raw readings.
    """
    n = bucket_count(start_us, end_us, width_us)
    grain: int | None = None
    name: str | None = None
    if width_us % HOUR_US == 0:
        grain, name = HOUR_US, "1h"
    elif width_us % MINUTE_US == 0:
        grain, name = MINUTE_US, "1m"
    if grain is None or rolled_until_us is None:
        return BucketPlan(width_us, start_us, end_us, n, None, end_us, end_us)
    lo = ceil_to(start_us, grain)
    hi = floor_to(min(end_us, rolled_until_us), grain)
    if hi <= lo:
        return BucketPlan(width_us, start_us, end_us, n, None, end_us, end_us)
    return BucketPlan(width_us, start_us, end_us, n, name, lo, hi)
