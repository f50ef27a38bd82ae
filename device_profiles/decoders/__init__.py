"""Payload decoders, one module per wire format; ``decode`` dispatches on the format name.

Every decoder raises only DecodeError for malformed input; entries that cannot be decoded
while the rest can are listed in ``Decoded.errors``.
"""

from __future__ import annotations

import logging

from device_profiles.decoded import Decoded
from device_profiles.decoders.chirpstack import decode_chirpstack
from device_profiles.decoders.json_native import decode_json
from device_profiles.decoders.senml import decode_senml
from device_profiles.decoders.ttn import decode_ttn
from device_profiles.errors import DecodeError
from device_profiles.schema import Profile

__all__ = [
    "FORMATS",
    "decode",
    "decode_chirpstack",
    "decode_json",
    "decode_senml",
    "decode_ttn",
]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("json", "senml", "ttn", "chirpstack")


def decode(
    fmt: str, payload: bytes, profile: Profile | None = None, *, now: float | None = None
) -> Decoded:
    """Decode ``payload`` in format ``fmt``; ``now`` only matters for relative SenML times."""
    try:
        if fmt == "json":
            return decode_json(payload, profile)
        if fmt == "senml":
            return decode_senml(payload, profile, now=now)
        if fmt == "ttn":
            return decode_ttn(payload, profile)
        if fmt == "chirpstack":
            return decode_chirpstack(payload, profile)
    except DecodeError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # Last line of defence: a shape we did not foresee must not escape as a crash.
        log.debug("unexpected %s while decoding %s payload", type(exc).__name__, fmt, exc_info=True)
        raise DecodeError(f"malformed {fmt} payload ({type(exc).__name__}: {exc})") from exc
    raise DecodeError(f"unknown payload format {fmt!r} (expected one of {', '.join(FORMATS)})")
