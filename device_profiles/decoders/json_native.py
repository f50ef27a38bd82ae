"""citygate's native JSON payload, the format our own firmware and simulator publish.

``{"id": "aq-0001", "ts": 1764070000.5, "seq": 42, "values": {"pm25": 12.1, ...}}``;
``id``, ``ts`` (epoch seconds, epoch milliseconds, or RFC 3339) and ``seq`` are optional,
``values`` is required and must be an object. Unknown top-level keys are ignored.
"""

from __future__ import annotations

from device_profiles.decoded import Decoded
from device_profiles.decoders._common import (
    load_json,
    opt_seq,
    opt_str,
    parse_time,
    type_name,
    values_readings,
)
from device_profiles.errors import DecodeError
from device_profiles.schema import Profile


def decode_json(payload: bytes, profile: Profile | None = None) -> Decoded:
    """Decode a native JSON payload (the profile is not needed for this format)."""
    obj = load_json(payload)
    if not isinstance(obj, dict):
        raise DecodeError(f"top level must be an object, got {type_name(obj)}")
    if "values" not in obj:
        raise DecodeError("missing 'values'")
    values = obj["values"]
    if not isinstance(values, dict):
        raise DecodeError(f"'values' must be an object, got {type_name(values)}")
    ts = obj.get("ts")
    return Decoded(
        device_id=opt_str(obj, "id", ""),
        time=None if ts is None else parse_time(ts),
        seq=opt_seq(obj, "seq"),
        readings=values_readings(values),
    )
