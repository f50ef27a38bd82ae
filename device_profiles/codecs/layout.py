"""Fixed byte layout codec: each field at a fixed position, ``value = raw * scale + offset``."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from device_profiles.codec_spec import FIELD_TYPES, LayoutCodecSpec
from device_profiles.codecs.base import CodecErrors, Values, decimals_of, strict
from device_profiles.errors import DecodeError, EncodeError
from device_profiles.schema import MetricSpec


@dataclass(frozen=True, slots=True)
class _Field:
    metric: str
    struct: struct.Struct
    position: int
    scale: float
    offset: float
    ndigits: int | None  # rounding that removes binary noise of the scale (None for float32)
    lo: float
    hi: float
    type_name: str
    states: tuple[str, ...] | None


class LayoutCodec:
    """Codec for a ``kind: layout`` spec."""

    __slots__ = ("_fields", "size")

    def __init__(self, spec: LayoutCodecSpec, metrics: Mapping[str, MetricSpec]) -> None:
        fields: list[_Field] = []
        position = 0
        for f in spec.fields:
            char, lo, hi = FIELD_TYPES[f.type]
            packer = struct.Struct((">" if f.endian == "big" else "<") + char)
            ndigits = None if f.type == "float32" else decimals_of(f.scale) + decimals_of(f.offset)
            states = metrics[f.metric].states
            fields.append(
                _Field(
                    f.metric, packer, position, f.scale, f.offset, ndigits, lo, hi, f.type, states
                )
            )
            position += packer.size
        self._fields = tuple(fields)
        self.size = position

    def decode_partial(self, data: bytes) -> tuple[Values, CodecErrors]:
        """Decode a frame of exactly ``size`` bytes; a bad state index is a per-metric error."""
        if len(data) != self.size:
            what = "truncated" if len(data) < self.size else "oversize"
            raise DecodeError(f"{what} frame: {len(data)} bytes, layout expects {self.size}")
        values: Values = {}
        errors: list[tuple[str, str]] = []
        for f in self._fields:
            (raw,) = f.struct.unpack_from(data, f.position)
            if f.states is not None:
                if 0 <= raw < len(f.states):
                    values[f.metric] = f.states[raw]
                else:
                    errors.append(
                        (f.metric, f"state index {raw} out of range ({len(f.states)} states)")
                    )
            elif f.ndigits is None:
                value = float(raw) * f.scale + f.offset
                # float32 carries ~7 significant digits; drop the widening noise.
                values[f.metric] = float(f"{value:.7g}") if math.isfinite(value) else value
            else:
                values[f.metric] = round(raw * f.scale + f.offset, f.ndigits)
        return values, tuple(errors)

    def decode(self, data: bytes) -> Values:
        """Decode strictly (any problem raises DecodeError)."""
        return strict(self.decode_partial(data))

    def encode(self, values: Mapping[str, float | str]) -> bytes:
        """Encode every field of the layout; all layout metrics are required, others refused."""
        unknown = set(values) - {f.metric for f in self._fields}
        if unknown:
            raise EncodeError(f"metrics not in the layout: {', '.join(sorted(unknown))}")
        out = bytearray()
        for f in self._fields:
            if f.metric not in values:
                raise EncodeError(f"missing value for {f.metric!r}")
            value = values[f.metric]
            try:
                out += f.struct.pack(_raw(f, value))
            except (struct.error, OverflowError):
                raise EncodeError(f"{f.metric}: {value!r} does not fit {f.type_name}") from None
        return bytes(out)


def _raw(f: _Field, value: float | str) -> int | float:
    if f.states is not None:
        if not isinstance(value, str) or value not in f.states:
            raise EncodeError(f"{f.metric}: {value!r} is not one of {', '.join(f.states)}")
        return f.states.index(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncodeError(f"{f.metric}: expected a number, got {type(value).__name__}")
    if f.ndigits is None:
        return (value - f.offset) / f.scale
    if not math.isfinite(value):
        raise EncodeError(f"{f.metric}: {value!r} cannot be encoded as {f.type_name}")
    raw = round((value - f.offset) / f.scale)
    if not f.lo <= raw <= f.hi:
        raise EncodeError(f"{f.metric}: {value!r} does not fit {f.type_name} (raw {raw})")
    return raw
