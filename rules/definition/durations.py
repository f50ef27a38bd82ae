"""Durations in rule files: ``90s``, ``15m``, ``1h30m``, ``2d``, ISO 8601 ``PT15M``, or a
number of seconds. Parsed to whole microseconds (the unit readings' times use)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "format_duration", "parse_duration"]

_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1, "ms": 0.001}
_SIMPLE = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_ISO = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
MAX_DURATION_S = 366 * 86_400


def parse_duration(value: object) -> int:
    """Microseconds in ``value``; ValueError with a readable message otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or text like '15m' or 'PT15M'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise ValueError("a duration must be a number of seconds or text like '15m' or 'PT15M'")
    if not 0 <= seconds <= MAX_DURATION_S:
        raise ValueError(f"duration {value!r} must be between 0 and 366 days")
    return round(seconds * 1_000_000)


def _parse_text(text: str) -> float:
    if not text:
        raise ValueError("empty duration")
    iso = _ISO.match(text.upper())
    if iso and text.upper() not in ("P", "PT"):
        return sum(float(iso[k] or 0) * _UNITS[k.lower()] for k in ("d", "h", "m", "s"))
    pos, total = 0, 0.0
    for match in _SIMPLE.finditer(text):
        if match.start() != pos:
            break
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if pos != len(text) or pos == 0:
        try:
            return float(text)
        except ValueError:
            raise ValueError(
                f"bad duration {text!r}: use e.g. '90s', '15m', '1h30m', '2d' or 'PT15M'"
            ) from None
    return total


def format_duration(us: int) -> str:
    """The shortest text form of a duration, e.g. ``1h30m`` (``0s`` for zero)."""
    seconds = us / 1_000_000
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


# In models: accepts the forms above, holds microseconds, serialises back to text.
Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
