"""SenML JSON (RFC 8428) packs.

Base fields ``bn``, ``bt``, ``bu``, ``bv`` apply to the record carrying them and to the
following records until replaced. Name = ``bn + n``; the device id comes from the base name
(``urn:dev:<type>:<id>:`` or ``<id>:``, trailing ``:``/``/`` stripped) and the metric is ``n``.
Time = ``bt + t``; values below 2**28 are relative to ``now`` (RFC 8428 section 4.5.3).
A record without a value (or with a bad one) becomes an entry in ``errors``; a record holding
only base fields is not an error. Records with a SenML unit that contradicts the profile's
unit are reported as errors too.
"""

from __future__ import annotations

import math
import time as _time

from device_profiles.decoded import Decoded, DecodeProblem, Reading
from device_profiles.decoders._common import load_json, type_name
from device_profiles.errors import DecodeError
from device_profiles.schema import Profile

RELATIVE_LIMIT = 2**28
_BASE = ("bn", "bt", "bu", "bv", "bs", "bver")
_VALUE_KEYS = ("v", "vs", "vb", "vd")
# SenML unit symbols (RFC 8428 and the RFC 8798 secondary registry) -> UN/CEFACT code.
SENML_UNITS = {
    "Cel": "CEL",
    "%RH": "P1",
    "%": "P1",
    "%EL": "P1",
    "dB": "2N",
    "dBA": "2N",
    "m": "MTR",
    "cm": "CMT",
    "mm": "MMT",
    "m/s": "MTS",
    "km/h": "KMH",
    "hPa": "A97",
    "lx": "LUX",
    "W": "WTT",
    "kWh": "KWH",
    "V": "VLT",
    "A": "AMP",
    "m3/s": "MQS",
    "ug/m3": "GQ",
    "ppm": "59",
    "ppb": "61",
    "s": "SEC",
}


def _num(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(f"{what} must be a number, got {type_name(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise DecodeError(f"{what} is out of range") from None
    if not math.isfinite(number):
        raise DecodeError(f"{what} must be finite")
    return number


def _device_id(base_name: str) -> str | None:
    name = base_name
    if name.startswith("urn:dev:"):
        parts = name.split(":", 3)  # urn, dev, <type>, <id...>
        name = parts[3] if len(parts) == 4 else ""
    return name.rstrip(":/") or None


def decode_senml(
    payload: bytes, profile: Profile | None = None, *, now: float | None = None
) -> Decoded:
    """Decode a SenML JSON pack; ``now`` (epoch seconds) resolves relative times."""
    pack = load_json(payload)
    if not isinstance(pack, list):
        raise DecodeError(f"SenML pack must be an array, got {type_name(pack)}")
    if not pack:
        raise DecodeError("empty SenML pack")
    if now is None:
        now = _time.time()
    bn, bt, bu, bv = "", 0.0, "", 0.0
    device_id: str | None = None
    message_time: float | None = None
    readings: list[Reading] = []
    errors: list[DecodeProblem] = []
    for index, record in enumerate(pack):
        if not isinstance(record, dict):
            raise DecodeError(f"SenML record {index} must be an object, got {type_name(record)}")
        if "bn" in record:
            if not isinstance(record["bn"], str):
                raise DecodeError(f"record {index}: bn must be a string")
            bn = record["bn"]
            this_id = _device_id(bn)
            if device_id is not None and this_id != device_id:
                raise DecodeError(f"pack mixes devices {device_id!r} and {this_id!r}")
            device_id = this_id
        if "bt" in record:
            bt = _num(record["bt"], f"record {index}: bt")
            if message_time is None:
                message_time = bt + now if abs(bt) < RELATIVE_LIMIT else bt
        if "bu" in record:
            if not isinstance(record["bu"], str):
                raise DecodeError(f"record {index}: bu must be a string")
            bu = record["bu"]
        if "bv" in record:
            bv = _num(record["bv"], f"record {index}: bv")
        try:
            reading = _record(record, (bv, bt, bu), now, profile)
        except DecodeError as exc:
            name = record.get("n")
            errors.append((name if isinstance(name, str) else "", f"record {index}: {exc.reason}"))
            continue
        if reading is not None:
            readings.append(reading)
    return Decoded(device_id, message_time, None, tuple(readings), tuple(errors))


def _record(
    record: dict[str, object],
    base: tuple[float, float, str],
    now: float,
    profile: Profile | None,
) -> Reading | None:
    """One resolved record; None for a record that only carries base fields."""
    bv, bt, bu = base
    present = [k for k in _VALUE_KEYS if k in record]
    if not present and "s" not in record:
        if "n" not in record and any(k in record for k in _BASE):
            return None
        raise DecodeError("record has no value")
    if len(present) != 1:
        raise DecodeError(
            "record needs exactly one of v, vs, vb"
            if present
            else "sum-only record is not supported"
        )
    name = record.get("n", "")
    if not isinstance(name, str) or not name:
        raise DecodeError("record has no name (n)")
    key = present[0]
    raw = record[key]
    value: object
    if key == "v":
        value = _num(raw, "v") + bv
    elif key == "vs":
        if not isinstance(raw, str):
            raise DecodeError(f"vs must be a string, got {type_name(raw)}")
        value = raw
    elif key == "vb":
        if not isinstance(raw, bool):
            raise DecodeError(f"vb must be a boolean, got {type_name(raw)}")
        value = raw
    else:
        raise DecodeError("data values (vd) are not supported")
    unit = record.get("u", bu)
    if unit and profile is not None:
        spec = profile.metrics.get(name)
        expected = SENML_UNITS.get(unit) if isinstance(unit, str) else None
        if spec is not None and spec.unit is not None and expected not in (None, spec.unit):
            raise DecodeError(f"unit {unit!r} does not match profile unit {spec.unit}")
    if "t" not in record and bt == 0.0:
        return name, None, value  # no time at all means "now": left to the receiver
    t = bt + (_num(record["t"], "t") if "t" in record else 0.0)
    return name, (t + now if abs(t) < RELATIVE_LIMIT else t), value
