"""Times as SensorThings writes them (ISO 8601, UTC, ``Z``) and as readings store them
(microseconds since 1970)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import bad_request

__all__ = ["EPOCH", "dt_to_us", "iso", "parse_instant", "us_to_dt"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def iso(dt: datetime) -> str:
    """``2024-05-01T12:00:00.250Z`` (milliseconds or microseconds only when present)."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    # isoformat is C and a few times faster than strftime (two per Observation).
    text = dt.isoformat()[:-6]  # without "+00:00"
    if dt.microsecond and text.endswith("000"):
        text = text[:-3]
    return text + "Z"


def dt_to_us(dt: datetime) -> int:
    """Exact microseconds since 1970 of an aware datetime."""
    return (dt - EPOCH) // _US


def us_to_dt(us: int) -> datetime:
    """The datetime of microseconds since 1970 (400 when out of range)."""
    try:
        return EPOCH + timedelta(microseconds=us)
    except OverflowError:
        raise bad_request(f"time {us} µs since 1970 is out of range") from None


def parse_instant(text: str, what: str = "time") -> datetime:
    """An ISO 8601 instant; without an offset it is taken as UTC. Intervals are refused."""
    if "/" in text:
        raise bad_request(f"{what}: time intervals are not supported here ({text!r})")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{what}: {text!r} is not an ISO 8601 date and time") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
