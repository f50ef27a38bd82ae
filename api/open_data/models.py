"""Response and request models of the open data and operator device endpoints.

The hot endpoints build their JSON directly (orjson) for speed; these models are what the
OpenAPI document publishes for them, and the schemathesis test checks that the bodies
match. Optional fields of aggregate points are left out when not requested.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AreaHistory",
    "AreaPoint",
    "DeviceAdmin",
    "DeviceLatestPublic",
    "DevicePage",
    "DevicePatch",
    "DevicePublic",
    "ErrorDetail",
    "History",
    "HistoryPoint",
    "ImportResult",
    "LatestReading",
    "LatestSet",
    "MetricPublic",
    "ProfilePublic",
    "QuarantinePage",
    "QuarantineReasons",
    "QuarantinedPublic",
    "RawReading",
    "Readings",
]


class ErrorDetail(BaseModel):
    """Every error of this API: one readable message."""

    detail: str


# Devices ---------------------------------------------------------------------------


class DeviceBase(BaseModel):
    """What identifies and places a device."""

    id: str
    name: str
    profile: str
    district: str | None
    lon: float | None = Field(description="WGS 84 longitude, degrees")
    lat: float | None = Field(description="WGS 84 latitude, degrees")
    tags: list[str]


class DevicePublic(DeviceBase):
    """A device as open data shows it."""

    status: Literal["unknown", "online", "offline"]
    last_seen: datetime | None
    enabled: bool


class DeviceAdmin(DevicePublic):
    """A device with its operator-only registration fields."""

    credentials_ref: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DevicePage(BaseModel):
    """One page of devices; ``next`` is the URL of the following page, if any."""

    items: list[DevicePublic]
    total: int
    limit: int
    offset: int
    next: str | None


class DevicePatch(BaseModel):
    """Fields to change on a device; fields left out stay as they are. ``lat``/``lon``
    change together (both null removes the location)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=500)
    profile: str | None = Field(default=None, min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    district: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = None
    enabled: bool | None = None
    credentials_ref: str | None = Field(default=None, max_length=500)
    attributes: dict[str, Any] | None = None


class ImportResult(BaseModel):
    """What a bulk import did."""

    imported: int
    created: int
    updated: int


# Profiles --------------------------------------------------------------------------


class MetricPublic(BaseModel):
    """One metric of a profile, so apps can label values."""

    name: str
    type: Literal["number", "state"]
    unit: str | None = Field(description="UN/CEFACT common code")
    unit_symbol: str | None
    unit_name: str | None
    min: float | None
    max: float | None
    states: list[str] | None
    description: str


class ProfilePublic(BaseModel):
    """A device profile: what a kind of device reports."""

    name: str
    title: str
    description: str
    smart_data_model: str
    reporting_interval_s: int
    metrics: list[MetricPublic]


# Latest values ---------------------------------------------------------------------


class LatestReading(BaseModel):
    """The newest reading of one metric. A state's ``value`` is its index in the
    profile's state list and ``state`` its name."""

    value: float
    time: datetime
    state: str | None = None


class DeviceLatestPublic(BaseModel):
    """The newest readings of one device, by metric name."""

    id: str
    profile: str
    district: str | None
    lon: float | None
    lat: float | None
    time: datetime | None = Field(description="newest reading time; null if it never reported")
    readings: dict[str, LatestReading]


class LatestSet(BaseModel):
    """Latest readings of every matching device."""

    count: int
    devices: list[DeviceLatestPublic]


# History ---------------------------------------------------------------------------


class HistoryPoint(BaseModel):
    """Aggregates of one bucket (only those requested). ``last`` of a state metric is
    the state's name."""

    time: datetime = Field(description="start of the bucket")
    count: int | None = None
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    last: float | str | None = None


class _Series(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    metric: str
    unit: str | None
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    bucket: str
    bucket_seconds: int
    aggregates: list[str]
    rollup: str | None = Field(description="rollup table used for part of the range, if any")


class History(_Series):
    """Bucketed history of one metric of one device; buckets without readings are left
    out."""

    device: str
    type: Literal["number", "state"]
    states: list[str] | None
    points: list[HistoryPoint]


class AreaPoint(BaseModel):
    """Aggregates of one bucket over the readings of every device of the area."""

    time: datetime
    count: int | None = None
    devices: int | None = None
    avg: float | None = None
    min: float | None = None
    max: float | None = None


class AreaHistory(_Series):
    """A metric over a district or bounding box, bucketed."""

    district: list[str] | None
    bbox: list[float] | None
    profiles: list[str]
    device_count: int
    points: list[AreaPoint]


class RawReading(BaseModel):
    """One stored reading."""

    time: datetime
    value: float
    state: str | None = None


class Readings(BaseModel):
    """Raw readings of one metric of one device, oldest first; ``next`` continues."""

    model_config = ConfigDict(populate_by_name=True)

    device: str
    metric: str
    unit: str | None
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    limit: int
    readings: list[RawReading]
    next: str | None


# Quarantine ------------------------------------------------------------------------


class QuarantinedPublic(BaseModel):
    """A refused message with its reason."""

    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason_code: str
    reason: str
    payload_size: int
    payload_base64: str
    payload_text: str | None = Field(description="the payload as UTF-8 text, if it is")
    payload_truncated: bool


class QuarantinePage(BaseModel):
    """Refused messages, newest first; ``next`` continues with the older ones."""

    items: list[QuarantinedPublic]
    next_cursor: str | None
    next: str | None


class QuarantineReasons(BaseModel):
    """How many refused messages per reason code."""

    total: int
    reasons: dict[str, int]
