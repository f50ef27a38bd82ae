"""Request bodies of SensorThings writes (the trust boundary): pydantic models, and the
checks that turn a validation error into a SensorThings 400."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import bad_request

__all__ = [
    "CreateObservationsItem",
    "LocationBody",
    "ObservationBody",
    "Ref",
    "ThingBody",
    "parse_body",
    "point_of",
]

_Strict = ConfigDict(extra="forbid", populate_by_name=True)

# Properties a Thing shows but nobody sets: derived from the device's state.
READ_ONLY_THING_PROPERTIES = frozenset({"status", "lastSeen"})
GEOJSON_TYPES = frozenset({"application/geo+json", "application/vnd.geo+json"})


class Ref(BaseModel):
    """A link to an existing entity: ``{"@iot.id": 5}``."""

    model_config = _Strict
    id: int | str = Field(alias="@iot.id")


class LocationBody(BaseModel):
    """A Location (a GeoJSON Point in WGS 84)."""

    model_config = _Strict
    name: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    encodingType: str | None = None
    location: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    Things: list[Ref] | None = None


class ThingBody(BaseModel):
    """A Thing: a device. ``properties.profile`` names its device profile."""

    model_config = _Strict
    name: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    properties: dict[str, Any] | None = None
    Locations: list[LocationBody | Ref] | None = None


class ObservationBody(BaseModel):
    """An Observation: a result at a time (now when absent)."""

    model_config = _Strict
    phenomenonTime: str | None = None
    resultTime: str | None = None
    result: float | str | bool | None = None
    Datastream: Ref | None = None
    FeatureOfInterest: Ref | None = None


class CreateObservationsItem(BaseModel):
    """One Datastream's part of a CreateObservations request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    Datastream: Ref
    components: list[str] = Field(min_length=1, max_length=10)
    count: int | None = Field(default=None, alias="dataArray@iot.count")
    dataArray: list[list[Any]]


_M = TypeVar("_M", bound=BaseModel)

_DERIVED = {
    "Datastreams": "Datastreams derive from the Thing's profile: one per profile metric",
    "MultiDatastreams": "MultiDatastreams are not supported",
    "HistoricalLocations": "HistoricalLocations are recorded when a Thing's location changes",
    "Sensor": "Sensors are device profiles; they cannot be created through the API",
    "ObservedProperty": "ObservedProperties are profile metrics; they cannot be created here",
}


def parse_body(model: type[_M], data: object, what: str) -> _M:
    """``data`` as ``model``; 400 naming the first problem."""
    if not isinstance(data, dict):
        raise bad_request(f"{what}: the body must be a JSON object")
    for key, reason in _DERIVED.items():
        if key in data:
            raise bad_request(f"{what}: {key} cannot be given: {reason}")
    if (
        isinstance(data.get("FeatureOfInterest"), dict)
        and "@iot.id" not in data["FeatureOfInterest"]
    ):
        raise bad_request(
            f"{what}: FeaturesOfInterest are the Thing's locations; give none (or a reference)"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "/".join(str(p) for p in err["loc"]) or "body"
        raise bad_request(f"{what}: {loc}: {err['msg']}") from None


def point_of(loc: LocationBody) -> tuple[float, float]:
    """(lon, lat) of a Location's GeoJSON Point (a Feature with a Point geometry too)."""
    if loc.encodingType is not None and loc.encodingType not in GEOJSON_TYPES:
        raise bad_request(
            f"Location encodingType must be application/geo+json, not {loc.encodingType!r}"
        )
    geo = loc.location
    if geo is None:
        raise bad_request("Location: location (a GeoJSON Point) is required")
    if geo.get("type") == "Feature" and isinstance(geo.get("geometry"), dict):
        geo = geo["geometry"]
    coords = geo.get("coordinates")
    if geo.get("type") != "Point" or not isinstance(coords, list) or len(coords) not in (2, 3):
        raise bad_request("Location: location must be a GeoJSON Point (devices have one position)")
    lon, lat = coords[0], coords[1]
    if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in (lon, lat)):
        raise bad_request("Location: coordinates must be numbers")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise bad_request("Location: coordinates are [longitude, latitude] in WGS 84 degrees")
    return float(lon), float(lat)
