"""Cayenne Low Power Payload (LPP) codec: ``channel, type, value`` triplets, big endian.

Supported types: digital in/out, analog in/out, illuminance, presence, temperature, humidity,
barometer. Accelerometer, gyrometer and GPS have a known size, so they are skipped with a
per-channel error instead of failing the whole frame; an unknown type ends decoding with a
DecodeError because the rest of the frame cannot be delimited.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from device_profiles.codec_spec import (
    LPP_BY_ID,
    CayenneChannel,
    CayenneCodecSpec,
    LppType,
    channel_target,
)
from device_profiles.codecs.base import MAX_FRAME, CodecErrors, Values, strict
from device_profiles.errors import DecodeError, EncodeError
from device_profiles.schema import MetricSpec

# Types that are interchangeable on decode (a device may report an output as an input).
_GROUP = {
    "analog_output": "analog_input",
    "digital_output": "digital_input",
    "presence": "digital_input",
}


@dataclass(frozen=True, slots=True)
class _Channel:
    channel: int
    metric: str
    lpp: LppType  # type used to encode
    states: tuple[str, ...] | None


class CayenneCodec:
    """Codec for a ``kind: cayenne_lpp`` spec."""

    __slots__ = ("_by_channel", "_by_metric")

    def __init__(self, spec: CayenneCodecSpec, metrics: Mapping[str, MetricSpec]) -> None:
        by_channel: dict[int, _Channel] = {}
        for channel, target in sorted(spec.channels.items()):
            name = target.metric if isinstance(target, CayenneChannel) else target
            states = metrics[name].states
            metric, lpp = channel_target(target, states is not None)
            by_channel[channel] = _Channel(channel, metric, lpp, states)
        self._by_channel = by_channel
        self._by_metric = {c.metric: c for c in by_channel.values()}

    def decode_partial(self, data: bytes) -> tuple[Values, CodecErrors]:
        """Decode all triplets; unmapped or unsupported channels become per-channel errors."""
        if len(data) > MAX_FRAME:
            raise DecodeError(f"oversize frame: {len(data)} bytes, LoRaWAN allows {MAX_FRAME}")
        if not data:
            raise DecodeError("empty Cayenne LPP frame")
        values: Values = {}
        errors: list[tuple[str, str]] = []
        pos = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise DecodeError(f"truncated frame: dangling byte at offset {pos}")
            channel, type_id = data[pos], data[pos + 1]
            lpp = LPP_BY_ID.get(type_id)
            if lpp is None:
                raise DecodeError(f"unknown Cayenne LPP type 0x{type_id:02x} on channel {channel}")
            start, pos = pos + 2, pos + 2 + lpp.size
            if pos > len(data):
                raise DecodeError(
                    f"truncated frame: channel {channel} {lpp.name} needs {lpp.size} bytes,"
                    f" {len(data) - start} left"
                )
            target = self._by_channel.get(channel)
            if not lpp.supported:
                name = target.metric if target else ""
                errors.append((name, f"channel {channel}: {lpp.name} is not supported, skipped"))
                continue
            if target is None:
                errors.append(("", f"channel {channel} ({lpp.name}) is not mapped to a metric"))
                continue
            if _GROUP.get(lpp.name, lpp.name) != _GROUP.get(target.lpp.name, target.lpp.name):
                errors.append(
                    (
                        target.metric,
                        f"channel {channel} carries {lpp.name}, expected {target.lpp.name}",
                    )
                )
                continue
            raw = int.from_bytes(data[start:pos], "big", signed=lpp.signed)
            if target.states is None:
                values[target.metric] = raw / lpp.divisor
            elif lpp.divisor == 1 and 0 <= raw < len(target.states):
                values[target.metric] = target.states[raw]
            else:
                errors.append(
                    (target.metric, f"channel {channel}: {lpp.name} value {raw} is not a state")
                )
        return values, tuple(errors)

    def decode(self, data: bytes) -> Values:
        """Decode strictly (any problem raises DecodeError)."""
        return strict(self.decode_partial(data))

    def encode(self, values: Mapping[str, float | str]) -> bytes:
        """Encode the given metrics, ordered by channel; unmapped metrics are refused."""
        unknown = set(values) - set(self._by_metric)
        if unknown:
            raise EncodeError(f"metrics without a Cayenne channel: {', '.join(sorted(unknown))}")
        out = bytearray()
        for ch in sorted((self._by_metric[m] for m in values), key=lambda c: c.channel):
            out += bytes((ch.channel, ch.lpp.type_id)) + _raw(ch, values[ch.metric])
        if len(out) > MAX_FRAME:
            raise EncodeError(f"frame of {len(out)} bytes exceeds {MAX_FRAME}")
        return bytes(out)


def _raw(ch: _Channel, value: float | str) -> bytes:
    lpp = ch.lpp
    if ch.states is not None:
        if not isinstance(value, str) or value not in ch.states:
            raise EncodeError(f"{ch.metric}: {value!r} is not one of {', '.join(ch.states)}")
        raw = ch.states.index(value)
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodeError(f"{ch.metric}: expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise EncodeError(f"{ch.metric}: {value!r} cannot be encoded as {lpp.name}")
        raw = round(value * lpp.divisor)
    try:
        return raw.to_bytes(lpp.size, "big", signed=lpp.signed)
    except OverflowError:
        raise EncodeError(f"{ch.metric}: {value!r} does not fit Cayenne {lpp.name}") from None
