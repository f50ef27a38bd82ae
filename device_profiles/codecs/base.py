"""Shared codec interface and helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from device_profiles.errors import DecodeError

Values = dict[str, float | str]
CodecErrors = tuple[tuple[str, str], ...]

# Largest LoRaWAN application payload (US915 DR4 / EU868 DR6 region maximum).
MAX_FRAME = 242


class Codec(Protocol):
    """Binary frame <-> metric values, as declared by a profile's ``codec`` block."""

    def decode_partial(self, data: bytes) -> tuple[Values, CodecErrors]:
        """Decode what can be decoded; per-metric problems go to the second element.

        Frame-level problems (truncated, oversize, unknown type) raise DecodeError.
        """
        ...

    def decode(self, data: bytes) -> Values:
        """Decode a frame strictly: any problem raises DecodeError."""
        ...

    def encode(self, values: Mapping[str, float | str]) -> bytes:
        """Encode metric values into a frame; raise EncodeError for what cannot be encoded."""
        ...


def strict(result: tuple[Values, CodecErrors]) -> Values:
    """Turn a partial decode into a strict one."""
    values, errors = result
    if errors:
        metric, reason = errors[0]
        raise DecodeError(f"{metric}: {reason}" if metric else reason)
    return values


def decimals_of(x: float) -> int:
    """Decimal places needed to print ``x`` exactly as written (0.1 -> 1, 0.25 -> 2, 2 -> 0)."""
    text = repr(float(x))
    if "e" in text or "E" in text:
        return 12
    return len(text.split(".")[1].rstrip("0"))
