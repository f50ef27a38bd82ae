"""The Things Stack v3 uplink message (MQTT ``v3/{app}/devices/{dev}/up`` or webhook body).

Device id: ``end_device_ids.device_id``. Time: ``uplink_message.received_at`` (network server
reception), else the top-level ``received_at``. Seq: ``uplink_message.f_cnt``; TTS omits zero
fields, so an absent ``f_cnt`` is reported as None rather than guessed as 0. Values: the
``decoded_payload`` of the application's payload formatter if present, else ``frm_payload``
decoded with the profile's codec.
"""

from __future__ import annotations

from device_profiles.decoded import Decoded, DecodeProblem, Reading
from device_profiles.decoders._common import (
    decode_frame,
    load_json,
    opt_seq,
    opt_str,
    parse_time,
    type_name,
    values_readings,
)
from device_profiles.errors import DecodeError
from device_profiles.schema import Profile


def decode_ttn(payload: bytes, profile: Profile | None = None) -> Decoded:
    """Decode a TTS v3 uplink message."""
    obj = load_json(payload)
    if not isinstance(obj, dict):
        raise DecodeError(f"top level must be an object, got {type_name(obj)}")
    ids = obj.get("end_device_ids", {})
    if not isinstance(ids, dict):
        raise DecodeError(f"end_device_ids must be an object, got {type_name(ids)}")
    up = obj.get("uplink_message")
    if not isinstance(up, dict):
        raise DecodeError("missing 'uplink_message' object (not an uplink message?)")

    received = up.get("received_at", obj.get("received_at"))
    time = None if received is None else parse_time(received, "received_at")
    seq = opt_seq(up, "f_cnt")
    device_id = opt_str(ids, "device_id", "end_device_ids.")

    decoded = up.get("decoded_payload")
    readings: tuple[Reading, ...]
    errors: tuple[DecodeProblem, ...] = ()
    if decoded is not None:
        if not isinstance(decoded, dict):
            raise DecodeError(f"decoded_payload must be an object, got {type_name(decoded)}")
        readings = values_readings(decoded)
    elif "frm_payload" in up:
        readings, errors = decode_frame(
            up["frm_payload"], profile, "frm_payload", "decoded_payload"
        )
    else:
        raise DecodeError("uplink has neither decoded_payload nor frm_payload")
    return Decoded(
        device_id=device_id,
        time=time,
        seq=seq,
        readings=readings,
        errors=errors,
    )
