"""ChirpStack v4 ``up`` integration event (JSON encoding).

Device id: ``deviceInfo.devEui`` (lower case), else ``deviceInfo.deviceName``. The DevEUI is
what identifies a LoRaWAN device and what the ChirpStack topic carries; ``deviceName`` is a
free-form label ("Test device" in ChirpStack's own example), so it is only a fallback. The
gateway matches the DevEUI against the registered device's ``attributes.dev_eui``.
Time: ``time``. Seq: ``fCnt`` (omitted by the protobuf JSON mapping when zero, so absent
means None). Values: ``object`` (the codec output of
the ChirpStack device profile) if present, else base64 ``data`` decoded with the profile's codec.
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


def decode_chirpstack(payload: bytes, profile: Profile | None = None) -> Decoded:
    """Decode a ChirpStack v4 uplink event."""
    obj = load_json(payload)
    if not isinstance(obj, dict):
        raise DecodeError(f"top level must be an object, got {type_name(obj)}")
    info = obj.get("deviceInfo", {})
    if not isinstance(info, dict):
        raise DecodeError(f"deviceInfo must be an object, got {type_name(info)}")
    dev_eui = opt_str(info, "devEui", "deviceInfo.")
    device_id = dev_eui.lower() if dev_eui else opt_str(info, "deviceName", "deviceInfo.")
    time = None if obj.get("time") is None else parse_time(obj["time"], "time")
    seq = opt_seq(obj, "fCnt")

    values = obj.get("object")
    readings: tuple[Reading, ...]
    errors: tuple[DecodeProblem, ...] = ()
    if values is not None:
        if not isinstance(values, dict):
            raise DecodeError(f"object must be an object, got {type_name(values)}")
        readings = values_readings(values)
    elif obj.get("data") is not None:
        readings, errors = decode_frame(obj["data"], profile, "data", "object")
    else:
        raise DecodeError("up event has neither object nor data (not an uplink event?)")
    return Decoded(device_id=device_id, time=time, seq=seq, readings=readings, errors=errors)
