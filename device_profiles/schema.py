"""Pydantic schema of a device profile file (the trust boundary for operator-supplied files)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from device_profiles.codec_spec import (
    FIELD_TYPES,
    LPP_STATE_TYPES,
    CayenneChannel,
    CayenneCodecSpec,
    CodecSpec,
    LayoutCodecSpec,
    channel_target,
)
from device_profiles.units import UNITS

PayloadFormat = Literal["json", "senml", "ttn", "chirpstack"]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
StateName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class MetricSpec(BaseModel):
    """One metric: a bounded number with a UN/CEFACT unit, or a state out of a fixed list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["number", "state"]
    unit: str | None = None
    min: Number | None = None
    max: Number | None = None
    states: tuple[StateName, ...] | None = None
    description: str = ""

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str | None) -> str | None:
        if unit is not None and unit not in UNITS:
            raise ValueError(
                f"unknown unit code {unit!r} (known UN/CEFACT codes: {', '.join(UNITS)})"
            )
        return unit

    @model_validator(mode="after")
    def _check_kind(self) -> Self:
        if self.type == "number":
            if self.states is not None:
                raise ValueError("'states' is only allowed for type 'state'")
            if self.unit is None:
                raise ValueError("'unit' is required for type 'number'")
            if self.min is None or self.max is None:
                raise ValueError("'min' and 'max' are required for type 'number'")
            if not self.min < self.max:
                raise ValueError(f"'min' ({self.min:g}) must be below 'max' ({self.max:g})")
        else:
            if self.unit is not None or self.min is not None or self.max is not None:
                raise ValueError("'unit', 'min' and 'max' are not allowed for type 'state'")
            if not self.states:
                raise ValueError("'states' must list at least one state for type 'state'")
            if len(set(self.states)) != len(self.states):
                raise ValueError("'states' must not contain duplicates")
        return self


class Profile(BaseModel):
    """A device profile: what a kind of device reports, in which units and ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    title: Annotated[str, StringConstraints(min_length=1)]
    description: str = ""
    smart_data_model: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]{0,63}$")]
    reporting_interval_s: Annotated[int, Field(strict=True, gt=0)]
    metrics: Annotated[dict[MetricName, MetricSpec], Field(min_length=1)]
    codec: CodecSpec | None = None
    default_format: PayloadFormat = "json"

    @field_validator("codec", mode="after")
    @classmethod
    def _check_codec(
        cls, codec: LayoutCodecSpec | CayenneCodecSpec | None, info: ValidationInfo
    ) -> LayoutCodecSpec | CayenneCodecSpec | None:
        metrics = info.data.get("metrics")  # absent when the metrics themselves are invalid
        if metrics is not None:
            if isinstance(codec, LayoutCodecSpec):
                _check_layout(codec, metrics)
            elif isinstance(codec, CayenneCodecSpec):
                _check_cayenne(codec, metrics)
        return codec


def _metric_of(name: str, metrics: dict[str, MetricSpec], seen: set[str]) -> MetricSpec:
    spec = metrics.get(name)
    if spec is None:
        raise ValueError(f"codec refers to unknown metric {name!r}")
    if name in seen:
        raise ValueError(f"codec maps metric {name!r} more than once")
    seen.add(name)
    return spec


def _check_fits(metric: str, spec: MetricSpec, lo: float, hi: float, what: str) -> None:
    assert spec.min is not None and spec.max is not None
    if spec.min < lo or spec.max > hi:
        raise ValueError(
            f"{what} for {metric!r} carries [{lo:g}, {hi:g}],"
            f" narrower than the metric range [{spec.min:g}, {spec.max:g}]"
        )


def _check_layout(codec: LayoutCodecSpec, metrics: dict[str, MetricSpec]) -> None:
    seen: set[str] = set()
    for field in codec.fields:
        spec = _metric_of(field.metric, metrics, seen)
        raw_lo, raw_hi = FIELD_TYPES[field.type][1:]
        if field.scale == 0:
            raise ValueError(f"layout field {field.metric!r}: scale must not be 0")
        if spec.states is not None:
            if field.type == "float32" or field.scale != 1 or field.offset != 0:
                raise ValueError(
                    f"layout field {field.metric!r} is a state: use an integer type"
                    " without scale or offset"
                )
            if len(spec.states) - 1 > raw_hi:
                raise ValueError(f"layout field {field.metric!r}: too many states for {field.type}")
        elif field.type != "float32":
            ends = sorted(
                (raw_lo * field.scale + field.offset, raw_hi * field.scale + field.offset)
            )
            _check_fits(field.metric, spec, ends[0], ends[1], f"layout field {field.type}")


def _check_cayenne(codec: CayenneCodecSpec, metrics: dict[str, MetricSpec]) -> None:
    seen: set[str] = set()
    for channel, target in codec.channels.items():
        name = target.metric if isinstance(target, CayenneChannel) else target
        spec = _metric_of(name, metrics, seen)
        metric, lpp = channel_target(target, spec.states is not None)
        lpp_name = lpp.name
        if spec.states is not None:
            if lpp_name not in LPP_STATE_TYPES:
                raise ValueError(f"channel {channel}: state metric {metric!r} needs a digital type")
        else:
            lo, hi = lpp.value_range
            _check_fits(metric, spec, lo, hi, f"channel {channel} ({lpp_name})")
