"""Declarative binary codec specifications (the ``codec:`` block of a profile) and their tables.

Kept apart from the codec implementations so that the schema can check a codec against the
profile's metrics without importing the codecs (which themselves depend on the schema).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

FieldType = Literal["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"]

# struct format character and the raw integer range of each layout field type.
FIELD_TYPES: dict[str, tuple[str, float, float]] = {
    "uint8": ("B", 0, 2**8 - 1),
    "int8": ("b", -(2**7), 2**7 - 1),
    "uint16": ("H", 0, 2**16 - 1),
    "int16": ("h", -(2**15), 2**15 - 1),
    "uint32": ("I", 0, 2**32 - 1),
    "int32": ("i", -(2**31), 2**31 - 1),
    "float32": ("f", -3.4028234663852886e38, 3.4028234663852886e38),
}

LppTypeName = Literal[
    "digital_input",
    "digital_output",
    "analog_input",
    "analog_output",
    "illuminance",
    "presence",
    "temperature",
    "humidity",
    "barometer",
]


class LppType(BaseModel):
    """One Cayenne LPP data type: id byte, size, signedness and divisor of the raw value."""

    model_config = ConfigDict(frozen=True)

    name: str
    type_id: int
    size: int
    signed: bool
    divisor: int
    supported: bool = True  # unsupported types are skipped (their size is known) with an error

    @property
    def value_range(self) -> tuple[float, float]:
        """Smallest and largest value this type can carry."""
        bits = self.size * 8
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if self.signed else (0, 2**bits - 1)
        return lo / self.divisor, hi / self.divisor


LPP_TYPES: tuple[LppType, ...] = (
    LppType(name="digital_input", type_id=0x00, size=1, signed=False, divisor=1),
    LppType(name="digital_output", type_id=0x01, size=1, signed=False, divisor=1),
    LppType(name="analog_input", type_id=0x02, size=2, signed=True, divisor=100),
    LppType(name="analog_output", type_id=0x03, size=2, signed=True, divisor=100),
    LppType(name="illuminance", type_id=0x65, size=2, signed=False, divisor=1),
    LppType(name="presence", type_id=0x66, size=1, signed=False, divisor=1),
    LppType(name="temperature", type_id=0x67, size=2, signed=True, divisor=10),
    LppType(name="humidity", type_id=0x68, size=1, signed=False, divisor=2),
    LppType(name="accelerometer", type_id=0x71, size=6, signed=True, divisor=1000, supported=False),
    LppType(name="barometer", type_id=0x73, size=2, signed=False, divisor=10),
    LppType(name="gyrometer", type_id=0x86, size=6, signed=True, divisor=100, supported=False),
    LppType(name="gps", type_id=0x88, size=9, signed=True, divisor=1, supported=False),
)
LPP_BY_ID: dict[int, LppType] = {t.type_id: t for t in LPP_TYPES}
LPP_BY_NAME: dict[str, LppType] = {t.name: t for t in LPP_TYPES}
LPP_STATE_TYPES = frozenset({"digital_input", "digital_output", "presence"})

# LPP type used when a channel names only a metric.
LPP_DEFAULT_FOR_METRIC: dict[str, str] = {
    "temperature": "temperature",
    "relativeHumidity": "humidity",
    "atmosphericPressure": "barometer",
    "illuminance": "illuminance",
}


class LayoutField(BaseModel):
    """One fixed-position field: ``value = raw * scale + offset`` (or ``states[raw]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    type: FieldType
    endian: Literal["big", "little"] = "big"
    scale: Annotated[float, Field(strict=True, allow_inf_nan=False)] = 1.0
    offset: Annotated[float, Field(strict=True, allow_inf_nan=False)] = 0.0


class LayoutCodecSpec(BaseModel):
    """A fixed byte layout: the fields follow each other without padding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["layout"]
    fields: Annotated[tuple[LayoutField, ...], Field(min_length=1)]


class CayenneChannel(BaseModel):
    """A Cayenne LPP channel with an explicit LPP type (used when encoding)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    type: LppTypeName


class CayenneCodecSpec(BaseModel):
    """Cayenne LPP frames; ``channels`` maps channel numbers to metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["cayenne_lpp"]
    channels: Annotated[
        dict[Annotated[int, Field(ge=0, le=255)], str | CayenneChannel], Field(min_length=1)
    ]


CodecSpec = Annotated[LayoutCodecSpec | CayenneCodecSpec, Field(discriminator="kind")]


def channel_target(target: str | CayenneChannel, is_state: bool) -> tuple[str, LppType]:
    """Metric and LPP type of a channel: explicit type, else digital input for states,
    else a type named after the metric (temperature, humidity...), else analog input."""
    if isinstance(target, CayenneChannel):
        return target.metric, LPP_BY_NAME[target.type]
    if is_state:
        return target, LPP_BY_NAME["digital_input"]
    return target, LPP_BY_NAME[LPP_DEFAULT_FOR_METRIC.get(target, "analog_input")]
