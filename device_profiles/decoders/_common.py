"""Helpers shared by the payload decoders: JSON parsing, timestamps, type checks, codec use."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime

import orjson

from device_profiles.codecs import codec_for
from device_profiles.decoded import DecodeProblem, Reading
from device_profiles.errors import DecodeError
from device_profiles.schema import Profile

MS_THRESHOLD = 1e11  # epoch numbers above this are milliseconds (1e11 s is year 5138)
MAX_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, the largest RFC 3339 time
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def type_name(value: object) -> str:
    """JSON-ish name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


_NON_FINITE = re.compile(rb"\b(?:NaN|-?Infinity)\b")


def load_json(payload: bytes | bytearray | memoryview | str) -> object:
    """Parse JSON with orjson; any failure becomes DecodeError.

    Devices that write ``NaN`` or ``Infinity`` (not JSON, but what many firmwares emit)
    get their message parsed by the standard library instead, so that only those values
    are refused, with their own reason, and the rest of the message is kept.
    """
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        if _NON_FINITE.search(raw):
            try:
                return json.loads(raw)
            except (ValueError, RecursionError):
                pass
        raise DecodeError(f"invalid JSON: {exc}") from None
    except TypeError:
        raise DecodeError(f"payload must be bytes or str, got {type(payload).__name__}") from None


def parse_time(value: object, what: str = "timestamp") -> float:
    """Epoch seconds (numbers above 1e11 are milliseconds) or RFC 3339 string -> epoch seconds."""
    if isinstance(value, bool):
        raise DecodeError(f"bad {what}: boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise DecodeError(f"bad {what}: {value} out of range") from None
        if seconds > MS_THRESHOLD:
            seconds /= 1000.0
        if not 0 <= seconds <= MAX_EPOCH:  # also rejects NaN
            raise DecodeError(f"bad {what}: {value!r:.40} is out of range")
        return seconds
    if isinstance(value, str):
        match = _RFC3339.fullmatch(value) if len(value) <= 64 else None
        if match is None:
            raise DecodeError(f"bad {what}: {value[:64]!r} is not RFC 3339")
        day, clock, frac, zone = match.groups()
        micros = (frac or "")[:6].ljust(6, "0")  # nanoseconds (TTS, ChirpStack) are truncated
        text = f"{day}T{clock}.{micros}{'+00:00' if zone in 'Zz' else zone}"
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError as exc:
            raise DecodeError(f"bad {what}: {value!r} ({exc})") from None
    raise DecodeError(f"bad {what}: expected number or RFC 3339 string, got {type_name(value)}")


def opt_str(obj: dict[str, object], key: str, where: str) -> str | None:
    """Optional non-empty string field; wrong type is a DecodeError."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DecodeError(f"{where}{key} must be a string, got {type_name(value)}")
    return value


def opt_seq(obj: dict[str, object], key: str) -> int | None:
    """Optional non-negative integer sequence number / frame counter."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DecodeError(f"bad {key}: expected non-negative integer, got {value!r:.40}")
    return value


def values_readings(values: dict[str, object]) -> tuple[Reading, ...]:
    """Readings from a flat ``{metric: value}`` object, without per-reading time."""
    return tuple((str(k), None, v) for k, v in values.items())


def decode_frame(
    b64: object, profile: Profile | None, what: str, instead_of: str
) -> tuple[tuple[Reading, ...], tuple[DecodeProblem, ...]]:
    """Base64 frame -> readings via the profile's codec."""
    if not isinstance(b64, str):
        raise DecodeError(f"{what} must be a base64 string, got {type_name(b64)}")
    codec = codec_for(profile) if profile is not None else None
    if codec is None:
        raise DecodeError(f"{what} without {instead_of} and profile has no codec")
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{what} is not valid base64") from None
    values, errors = codec.decode_partial(data)
    return tuple((m, None, v) for m, v in values.items()), errors
